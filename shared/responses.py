"""A JSON answer whose text is encoded already (pydantic's `model_dump_json`), sent as it is.

`JSONResponse(model.model_dump(mode="json"))` builds the model's dict and then encodes it with `json.dumps`; a hot
route that has the model encodes it once, in pydantic's serializer, and hands the text over. The headers are
JSONResponse's (`content-type: application/json`, `content-length`).
"""

from __future__ import annotations

from starlette.responses import Response


class JSONText(Response):
    media_type = "application/json"
