"""What every request passes before a route sees it: a size limit, and no control characters.

- A body over `max_body_bytes` is a 413 problem, refused from its Content-Length before it is read,
  or as soon as a chunked body passes the limit.
- NUL and the other C0 control characters (all but tab, line feed and carriage return) and DEL are
  refused in the path, the query and JSON bodies with a 422 problem naming the field. PostgreSQL
  refuses NUL in text while SQLite stores it: refusing at the door makes both backends answer the same.

- OPTIONS is answered with the `Allow` of the path (from the app's OpenAPI document).

Also the problem+json responses every route may give, for the OpenAPI document.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, unquote

from pydantic import BaseModel
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import PROBLEM_JSON

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# a JSON text holds control characters only as \u escapes: look for those before parsing anything
ESCAPED_CONTROL = re.compile(rb"\\u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF])")


class FieldError(BaseModel):
    field: str
    location: str | None = None
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details (`application/problem+json`); `errors` names the fields that failed."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def _problem_doc(description: str) -> dict[str, Any]:
    return {"model": ProblemDetails, "description": description, "content": {PROBLEM_JSON: {}}}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem_doc("Bad request (a malformed header, cursor or key)"),
    401: _problem_doc("No valid API key"),
    403: _problem_doc("The key lacks the scope"),
    404: _problem_doc("Not found (or not this customer's)"),
    409: _problem_doc("Conflict with the current state"),
    410: _problem_doc("Gone (an expired or used token)"),
    412: _problem_doc("If-Match is not the current ETag"),
    413: _problem_doc("Body too large"),
    422: _problem_doc("Invalid input; `errors` names the fields"),
    428: _problem_doc("If-Match is required"),
    500: _problem_doc("Unexpected error (logged with the correlation id)"),
    503: _problem_doc("Not ready (database or bus unreachable)"),
}


NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # what the guard lets through, for the OpenAPI document


def document_the_guard(app: Any) -> None:
    """Say in the app's OpenAPI what the guard enforces: string parameters (path, query, header) take
    no control characters. A client generated from the document is then not surprised by a 422."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            for item in document.get("paths", {}).values():
                for operation in item.values():
                    for parameter in operation.get("parameters", ()) if isinstance(operation, dict) else ():
                        _no_control(parameter.get("schema", {}))
        return app.openapi_schema

    app.openapi = openapi


def _no_control(schema: dict[str, Any]) -> None:
    for option in schema.get("anyOf", ()):
        _no_control(option)
    if schema.get("type") == "string" and "pattern" not in schema and "format" not in schema and "enum" not in schema:
        schema["pattern"] = NO_CONTROL


def _where(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) in `value` holding a control character."""
    if isinstance(value, str):
        return (path or "body") if CONTROL.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and CONTROL.search(key):
            return here
        if (found := _where(item, here)) is not None:
            return found
    return None


async def _send_problem(send: Send, status: int, detail: str, errors: list[dict[str, str]] | None = None) -> None:
    body = {"type": "about:blank",
            "title": {404: "Not Found", 413: "Content Too Large", 422: "Unprocessable Content"}[status],
            "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})


def _methods_by_path(app: Any) -> list[tuple[re.Pattern[str], set[str]]]:
    """(path regex, methods) of every operation the app documents; built once per app."""
    table = getattr(app.state, "methods_by_path", None)
    if table is None:
        table = [(compile_path(path)[0], "{" in path, {m.upper() for m in item if m.upper() != "PARAMETERS"})
                 for path, item in app.openapi().get("paths", {}).items()]
        app.state.methods_by_path = table
    return table


async def _answer_options(scope: Scope, send: Send) -> None:
    """OPTIONS: 204 with the `Allow` the path really has (404 for no such path); a path the document
    names as it is (`/v1/customers/duplicates`) is that resource, not a value of a template beside it."""
    matches = [(templated, methods) for regex, templated, methods in _methods_by_path(scope["app"])
               if regex.match(scope["path"])]
    exact = [methods for templated, methods in matches if not templated]
    allowed = set().union(*(exact or [methods for _, methods in matches]))
    if not allowed:
        await _send_problem(send, 404, f"no resource at {scope['path']}")
        return
    allowed.add("OPTIONS")
    await send({"type": "http.response.start", "status": 204,
                "headers": [(b"allow", ", ".join(sorted(allowed)).encode())]})
    await send({"type": "http.response.body", "body": b""})


class GuardRequests:
    """Plain ASGI middleware applying the module's rules; a request that passes is replayed unchanged."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = 1 << 20) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await _answer_options(scope, send)
            return
        if (field := self._bad_target(scope)) is not None:
            await _send_problem(send, 422, f"invalid {field[0]}: control characters are not allowed",
                                [{"field": field[0], "location": field[1], "message": "control characters are not allowed"}])
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await _send_problem(send, 413, f"the body is over {self.max_body_bytes} bytes")
            return
        if length == b"0" or (length is None and scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS")):
            await self.app(scope, receive, send)  # no body to look at (a capture's POST): passed on as it came
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await _send_problem(send, 413, f"the body is over {self.max_body_bytes} bytes")
                return
        if ESCAPED_CONTROL.search(body) and (field := self._bad_body(body)) is not None:
            await _send_problem(send, 422, f"invalid {field}: control characters are not allowed",
                                [{"field": field, "location": "body", "message": "control characters are not allowed"}])
            return
        await self.app(scope, self._replay(body, receive), send)

    @staticmethod
    def _bad_target(scope: Scope) -> tuple[str, str] | None:
        if CONTROL.search(scope.get("path", "")) or CONTROL.search(unquote(scope.get("raw_path", b"").decode("latin-1"))):
            return "path", "path"
        for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
            if CONTROL.search(name) or CONTROL.search(value):
                return name, "query"
        return None

    @staticmethod
    def _bad_body(body: bytes) -> str | None:
        try:
            return _where(json.loads(body))
        except ValueError:
            return None  # not JSON: the route's own parsing answers it

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        """The body read above, then whatever the connection says next (a disconnect)."""
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay
