"""The published contract: each event's data checked against its JSON Schema, as docs/asyncapi.json publishes it.

The schema is generated from the same pydantic model that types the data, but the two are not the same
check: pydantic's lax mode coerces what the schema refuses (`"2"` for an integer, `1.0` for an integer,
`"true"` for a boolean), and a producer written against the published document in another language must
meet exactly that document. So a consumer accepts data only when both agree: the model (with the rules a
schema cannot say, e.g. a known currency, a trip that ends after it starts) and the schema. The reasons
name the field and the rule, never the value (it may be personal data).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jsonschema_rs
from pydantic import BaseModel


@cache
def _validator(model: type[BaseModel]) -> Any:
    return jsonschema_rs.validator_for(model.model_json_schema())


def schema_errors(model: type[BaseModel], data: Any) -> list[str]:
    """`field: why` for each place `data` breaks `model`'s published JSON Schema (empty: it fits)."""
    return [f"{_field(error)}: {_why(error)}" for error in _validator(model).iter_errors(data)]


def _field(error: Any) -> str:
    path = [str(part) for part in error.instance_path]
    if type(error.kind).__name__ == "Required":
        path.append(str(error.kind.property))
    return ".".join(path) or "data"


def _why(error: Any) -> str:
    kind = type(error.kind).__name__
    if kind == "Required":
        return "is required by the schema"
    if kind == "AdditionalProperties":
        return f"the schema allows no field {', '.join(map(str, error.kind.unexpected))[:200]}"
    if kind == "Type":
        return f"is not of the schema's type {' or '.join(map(str, error.kind.types))}"
    if kind == "AnyOf":
        return "fits none of the forms the schema allows (anyOf)"
    keyword = str(error.schema_path[-1]) if error.schema_path else "schema"
    return f"breaks the schema's {keyword!r} rule"
