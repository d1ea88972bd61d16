"""A TCP load balancer on loopback, for tests that run several server nodes.

Round robin over the nodes, skipping one that refuses the connection (killed or
restarting), as an operator's HAProxy or nginx with passive health checks would.
A connection stays on the node it was given until either side closes it, so a
killed node cuts its HTTP keep-alive and WebSocket connections and the clients
reconnect, landing on a live node.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from sottovoce.server.process import free_port

CONNECT_TIMEOUT_S = 2.0
CHUNK = 64 * 1024


class Balancer:
    def __init__(self, backends: list[int]) -> None:
        self.backends = backends
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _open_backend(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        start = next(self._turn)
        for offset in range(len(self.backends)):
            port = self.backends[(start + offset) % len(self.backends)]
            with contextlib.suppress(OSError, TimeoutError):
                return await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), CONNECT_TIMEOUT_S
                )
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend = await self._open_backend()
        if backend is None:
            writer.close()
            return
        up = asyncio.create_task(_pipe(reader, backend[1]))
        down = asyncio.create_task(_pipe(backend[0], writer))
        self._pipes.update((up, down))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
                self._pipes.discard(task)
            for stream in (writer, backend[1]):
                with contextlib.suppress(OSError, RuntimeError):
                    stream.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError, asyncio.IncompleteReadError):
        while chunk := await source.read(CHUNK):
            sink.write(chunk)
            await sink.drain()
