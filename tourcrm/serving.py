"""uvicorn's HTTP protocol with each response sent in one write.

uvicorn (httptools) writes a response's status line and headers when the app sends `http.response.start`, and the
body with a second write when it sends `http.response.body`: two send() system calls for every response, and two
wake-ups of the client, which reads the headers alone first. On loopback under load (the checkout's hold and capture,
~1.5–1.8 ms of server CPU per redemption) each send is kernel work charged to the server. `CoalescingHttp` hands
uvicorn a transport whose writes within one turn of the event loop go out as one, at the end of that turn: the headers
and a body sent right after them travel together, and a streamed body's later chunks still go out as they come.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescedWrites:
    """A transport whose writes are joined and written once, when the event loop has run what is ready now; every
    other call goes to the transport itself (`close` and `write_eof` after the writes they follow)."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop, self._pending = transport, loop, []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data if type(data) is bytes else bytes(data))  # a buffer the caller may reuse: copied

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol over `_CoalescedWrites` (pass as `http=` to uvicorn.run / uvicorn.Config)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_CoalescedWrites(transport, asyncio.get_running_loop()))  # type: ignore[arg-type]
