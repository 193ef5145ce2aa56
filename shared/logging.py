"""Structured JSON logs with a correlation id; log ids and counts, never personal data."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import datetime, timezone

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")
service_name: ContextVar[str] = ContextVar("service_name", default="")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, service, correlation id and `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if service := service_name.get():
            entry["service"] = service
        if cid := correlation_id.get():
            entry["correlation_id"] = cid
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[1] is not None:
            entry.update(error_fields(record.exc_info[1]))  # never the message: it may hold personal data
        return json.dumps(entry, ensure_ascii=False, default=str)


def error_fields(exc: BaseException) -> dict[str, str]:
    """What a log may say about an error: its type and where it was raised, not its message.

    Messages can carry values (a database's "Key (phone)=(…) already exists"); frames do not.
    """
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return {"error_type": type(exc).__name__, "error_at": " < ".join(f"{f.name}:{f.lineno}" for f in reversed(frames))}


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_libraries()


def quiet_libraries() -> None:
    """Libraries log at WARNING and up only: at INFO and DEBUG they write what may be personal data."""
    for noisy in ("aiokafka", "kafka", "sqlalchemy.engine", "alembic", "httpx", "httpcore", "aiosqlite", "asyncpg"):
        # (aiosqlite and asyncpg log SQL parameters at DEBUG; httpx logs URLs, which may hold survey tokens)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True  # paths hold ids and tokens; the metrics middleware
    # counts requests by route template instead
