"""How answers write times and money: aware UTC times as ISO 8601, money as a decimal string with two places."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import PlainSerializer, WithJsonSchema

from services.profile.analytics import CENT


def _iso(moment: datetime) -> str:
    return moment.isoformat()


Moment = Annotated[datetime, PlainSerializer(_iso, return_type=str),
                   WithJsonSchema({"type": "string", "format": "date-time"})]
Money = Annotated[Decimal, PlainSerializer(lambda d: str(d.quantize(CENT)), return_type=str),
                  WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "examples": ["5980.00"]})]
