"""A stand-in HTTP/1.1 server on loopback whose every answer a test chooses, for
the client's handling of what a real server does only in a race or a failure
(a kept-alive connection closed under a request, a 503 during a database restart)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# The n-th request (from 1) over the whole server and the n-th on its connection
# give the raw answer to write, or None to close the connection without one.
Answering = Callable[[int, int], bytes | None]


def json_answer(status: str, body: bytes, headers: str = "") -> bytes:
    """A raw HTTP/1.1 answer: ``status`` such as "200 OK", ``headers`` as
    "name: value\\r\\n" lines."""
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{headers}".encode()
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )


class StandInServer:
    """Records each request line; answers as ``answering`` says."""

    def __init__(self, answering: Answering) -> None:
        self.requests: list[str] = []
        self._answering = answering
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        on_connection = 0
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (h.partition(": ") for h in head[1:])
                        if k.lower() == "content-length"
                    ),
                    0,
                )
                await reader.readexactly(length)
                self.requests.append(head[0])
                on_connection += 1
                answer = self._answering(len(self.requests), on_connection)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()
