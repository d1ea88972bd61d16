"""Concurrent calls served in rounds: group commit for writes, batched look-ups.

Each caller hands in its request and waits. One task takes everything waiting,
serves it with one transaction (or one statement) and answers every caller with
its own result once that round is done, for a write once it committed; what
arrives meanwhile waits for the next round. There is no timer: a caller on an
idle server is served at once, alone, and under load the rounds grow by
themselves with the time a round takes (as in PostgreSQL's and InnoDB's group
commit of the log). Each round is one synchronous function, run with one
hand-off to the node's round connection (storage.round_connection), instead of
a few awaited statements per caller (docs/performance.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")

# What one round takes at most; the rest waits for the next round. Bounds the
# statement sizes (SQLite allows 32,766 bound values) and the time one caller
# waits behind others.
MAX_BATCH = 128

ServeRound = Callable[[Sequence[Request]], Awaitable[list[Result | Exception]]]


class Rounds(Generic[Request, Result]):
    """Serve concurrent requests in rounds, one after another.

    ``serve`` gets the round's requests in arrival order and returns one outcome
    for each: the caller's result, or the exception to raise for that caller
    alone. An exception ``serve`` itself raises reaches every caller of the round.
    """

    def __init__(self, serve: ServeRound[Request, Result], max_batch: int = MAX_BATCH) -> None:
        self._serve = serve
        self._max_batch = max_batch
        self._waiting: list[tuple[Request, asyncio.Future[Result]]] = []
        self._server: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> Result:
        """Queue ``request`` and return its outcome once its round is done (for a
        write: committed)."""
        # A caller that gives up (a dropped connection) does not stop the round: the
        # round runs in the rounds' own task, and cancelling the caller cancels only
        # its outcome, which the round then leaves unset (no shield needed). A write
        # still commits, and a retry with the same id is answered as one.
        return await self._queue(request)

    async def submit_all(self, requests: Sequence[Request]) -> list[Result]:
        """:meth:`submit` for several requests at once: they go in the same round."""
        outcomes = [self._queue(request) for request in requests]
        return [await outcome for outcome in outcomes]

    def _queue(self, request: Request) -> asyncio.Future[Result]:
        outcome: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        # A caller that gave up leaves its failure unread: mark it read, not logged.
        outcome.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._waiting.append((request, outcome))
        if self._server is None:
            self._server = asyncio.create_task(self._drain())
        return outcome

    async def _drain(self) -> None:
        try:
            while self._waiting:
                round_ = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._serve_round(round_)
        finally:
            self._server = None
            for _, outcome in self._waiting:  # only when the rounds were cancelled
                if not outcome.done():
                    outcome.set_exception(RuntimeError("the storage rounds stopped"))
            self._waiting.clear()

    async def _serve_round(self, round_: list[tuple[Request, asyncio.Future[Result]]]) -> None:
        try:
            outcomes = await self._serve([request for request, _ in round_])
        except Exception as exc:
            for _, outcome in round_:
                if not outcome.done():
                    outcome.set_exception(exc)
            return
        except BaseException:
            for _, outcome in round_:  # cancellation: the rounds stop
                outcome.cancel()
            raise
        for (_, future), result in zip(round_, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
