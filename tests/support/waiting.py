"""Waiting in tests for what happens elsewhere (a server, another client), by
condition and with a deadline, never by a fixed sleep."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable

from sottovoce.client import ReceivedMessage

# Far beyond a healthy run's milliseconds, for a loaded machine.
WAIT_S = 20.0


async def take(
    stream: AsyncIterator[ReceivedMessage], count: int, timeout_s: float = WAIT_S
) -> list[ReceivedMessage]:
    """The next ``count`` messages of a ``listen()`` stream (TimeoutError otherwise)."""

    async def collect() -> list[ReceivedMessage]:
        taken = []
        async for message in stream:
            taken.append(message)
            if len(taken) == count:
                break
        return taken

    return await asyncio.wait_for(collect(), timeout_s)


async def eventually(check: Callable[[], object], timeout_s: float = WAIT_S) -> None:
    """Wait until ``check()`` (which may be a coroutine function) is true."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)
