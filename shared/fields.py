"""Field types for what clients send, taking only what their JSON Schema says.

pydantic's lax mode reads `0` as 1970-01-01, `0` as false and `false` as 0: a client generated from the
OpenAPI document would be told these are wrong types, and a fuzzer sending them would see them accepted.
These types accept the documented form only; the schema they publish is unchanged.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictBool, StrictFloat, StrictInt, WithJsonSchema

_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def _iso_text(value: Any) -> Any:
    if (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
            isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        raise ValueError("expected ISO 8601 text, not a number")
    return value


Day = Annotated[date, BeforeValidator(_iso_text)]  # "2026-05-01"
Moment = Annotated[datetime, BeforeValidator(_iso_text)]  # "2026-05-01T10:00:00+08:00"
Flag = StrictBool  # true / false, not 0 / 1
Whole = StrictInt  # 3, not 3.0 or false
Real = StrictFloat  # 0.5 or 1, not false
Count = Annotated[StrictInt, Field(ge=0, le=2**31 - 1)]  # fits an INTEGER column on SQLite and PostgreSQL
# a local time of day ("09:00", "18:30:00"): JSON Schema's "time" format wants an offset, which a
# business calendar's opening hours do not have
TimeOfDay = Annotated[time, BeforeValidator(_iso_text), WithJsonSchema(
    {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?$", "description": "local time of day"})]
