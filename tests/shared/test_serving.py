"""tourcrm's HTTP protocol (tourcrm.serving.CoalescingHttp): a response goes out in one write (uvicorn's own protocol
writes the headers and the body separately: two sends and two wake-ups of the client per response), byte for byte
as uvicorn would send it, and a streamed body's later chunks are not held back."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tourcrm.serving import CoalescingHttp

released = asyncio.Event()


async def answer(_request) -> JSONResponse:  # noqa: ANN001
    return JSONResponse({"id": "r1", "points": 10})


async def stream(_request) -> StreamingResponse:  # noqa: ANN001
    async def chunks():  # noqa: ANN202
        yield b"first"
        await released.wait()
        yield b"second"

    return StreamingResponse(chunks())


APP = Starlette(routes=[Route("/answer", answer), Route("/stream", stream)])


class Transport(asyncio.Transport):
    """What the protocol writes, one entry per write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default=None):  # noqa: ANN001, ANN201
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def served(protocol_class: type, request: bytes, until: int = 1) -> Transport:
    protocol = protocol_class(config=Config(app=APP, log_config=None), server_state=ServerState(), app_state={},
                              _loop=asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(200):
        await asyncio.sleep(0.005)
        if len(transport.writes) >= until and protocol.cycle.response_complete:
            break
    return transport


GET = b"GET /answer HTTP/1.1\r\nHost: tourcrm\r\n\r\n"


async def test_a_response_is_written_once_with_the_bytes_uvicorn_writes() -> None:
    ours, theirs = await served(CoalescingHttp, GET), await served(HttpToolsProtocol, GET)
    assert len(theirs.writes) == 2  # what this protocol is for: uvicorn sends the headers, then the body
    assert len(ours.writes) == 1
    assert ours.writes[0] == b"".join(theirs.writes)
    assert ours.writes[0].endswith(b'{"id":"r1","points":10}')


async def test_connection_close_sends_the_answer_before_closing() -> None:
    ours = await served(CoalescingHttp, b"GET /answer HTTP/1.1\r\nHost: tourcrm\r\nConnection: close\r\n\r\n")
    assert ours.closed and len(ours.writes) == 1 and ours.writes[0].endswith(b'{"id":"r1","points":10}')


async def test_a_streamed_body_is_not_held_back() -> None:
    released.clear()
    task = asyncio.create_task(served(CoalescingHttp, b"GET /stream HTTP/1.1\r\nHost: tourcrm\r\n\r\n", until=3))
    await asyncio.sleep(0.1)
    released.set()
    ours = await task
    first, *rest = ours.writes
    assert first.startswith(b"HTTP/1.1 200 OK") and first.endswith(b"5\r\nfirst\r\n")  # headers with the first chunk
    assert b"".join(rest) == b"6\r\nsecond\r\n0\r\n\r\n"

