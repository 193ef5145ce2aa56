"""RFC 9457 problem details for every error; validation errors name the field. No 500 for bad input."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An error the API answers with problem+json; `extra` members are added to the body."""

    def __init__(
        self, status: int, detail: str, *, title: str | None = None, type_: str | None = None,
        headers: dict[str, str] | None = None, **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_ or f"https://tourcrm.dev/problems/{self.title.lower().replace(' ', '-')}"
        self.headers = headers
        self.extra = extra


class NotFound(Problem):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__(404, f"{what} {ident} not found", title="Not Found")


class Conflict(Problem):
    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(409, detail, title="Conflict", **extra)


class Unprocessable(Problem):
    """A well-formed request that breaks a business rule; `field` names the culprit."""

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        errors = [{"field": field, "message": detail}] if field else None
        super().__init__(422, detail, title="Unprocessable Content", **({"errors": errors} if errors else {}), **extra)


def problem_response(
    status: int, title: str, detail: str, *, type_: str = "about:blank", instance: str | None = None,
    headers: dict[str, str] | None = None, **extra: Any,
) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"} and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status, exc.title, exc.detail, type_=exc.type, instance=request.url.path, headers=exc.headers, **exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field(e.get("loc", ())), "location": str(e.get("loc", ("body",))[0]), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        fields = ", ".join(sorted({e["field"] for e in errors})) or "request"
        return problem_response(
            422, "Unprocessable Content", f"invalid {fields}: {errors[0]['message'] if errors else ''}",
            type_="https://tourcrm.dev/problems/validation", instance=request.url.path, errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = HTTPStatus(exc.status_code).phrase
        return problem_response(
            exc.status_code, title, str(exc.detail), instance=request.url.path, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # a unique key taken by a concurrent request, or a row another one removed: the client may retry
        log.info("conflict", extra={"path": request.url.path, "error": type(exc.orig).__name__})
        return problem_response(409, "Conflict", "a concurrent request changed the same record; retry",
                                type_="https://tourcrm.dev/problems/conflict", instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem_response(500, "Internal Server Error", "an unexpected error occurred; it has been logged",
                                instance=request.url.path)
