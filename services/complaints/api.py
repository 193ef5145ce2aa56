"""HTTP routes of the complaints service: parse, authorise, call a use case, shape the answer."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v1", tags=["complaints"])
