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
from typing import Any, Generic, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")

# What one round takes at most; the rest waits for the next round. Bounds the
# statement sizes (SQLite allows 32,766 bound values) and the time one caller
# waits behind others.
MAX_BATCH = 128

ServeRound = Callable[[Sequence[Request]], Awaitable[list[Result | Exception]]]


# One caller's place in a round: its request, the future its call waits on, the
# list its outcomes go into and the request's index there.
_Waiting = tuple[Request, "asyncio.Future[list[Result | Exception]]", list[Any], int]


class Rounds(Generic[Request, Result]):
    """Serve concurrent requests in rounds, one after another.

    ``serve`` gets the round's requests in arrival order and returns one outcome
    for each: the caller's result, or the exception to raise for that caller
    alone. An exception ``serve`` itself raises reaches every caller of the round.

    Each call waits on one future for all its requests, set once its last request
    was served: its outcomes travel as that future's result, exceptions included,
    so no future holds an exception nobody may read (a caller that gave up) and
    none needs a callback to mark one read.
    """

    def __init__(self, serve: ServeRound[Request, Result], max_batch: int = MAX_BATCH) -> None:
        self._serve = serve
        self._max_batch = max_batch
        self._waiting: list[_Waiting[Request, Result]] = []
        self._server: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> Result:
        """Queue ``request`` and return its outcome once its round is done (for a
        write: committed)."""
        # A caller that gives up (a dropped connection) does not stop the round: the
        # round runs in the rounds' own task, and cancelling the caller cancels only
        # its call's future, which the round then leaves unset (no shield needed). A
        # write still commits, and a retry with the same id is answered as one.
        return (await self.submit_all((request,)))[0]

    async def submit_all(self, requests: Sequence[Request]) -> list[Result]:
        """:meth:`submit` for several requests at once: they go in the same round
        (or, past ``max_batch``, in consecutive ones); the first failure is raised."""
        outcomes = await self.submit_each(requests)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome
        return outcomes  # type: ignore[return-value]  # no failure among them

    async def submit_each(self, requests: Sequence[Request]) -> list[Result | Exception]:
        """:meth:`submit_all` with each request's own outcome, failures included (a
        WebSocket's sends, each answered alone: routes.websocket). The requests
        join the rounds in this order before the call first suspends."""
        if not requests:
            return []
        outcomes: list[Any] = [None] * len(requests)
        call: asyncio.Future[list[Result | Exception]] = asyncio.get_running_loop().create_future()
        self._waiting.extend((request, call, outcomes, i) for i, request in enumerate(requests))
        if self._server is None:
            self._server = asyncio.create_task(self._drain())
        await call
        return outcomes

    async def _drain(self) -> None:
        try:
            while self._waiting:
                round_ = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._serve_round(round_)
                # One pass of the loop before the next round is taken, so that a
                # caller this round answered and that submits again at once (a
                # WebSocket's storer, routes.websocket: its next sends wait for its
                # previous ones) is in it, not in the one after (docs/performance.md,
                # "PostgreSQL, session 7").
                await asyncio.sleep(0)
        finally:
            self._server = None
            for _, call, _, _ in self._waiting:  # only when the rounds were cancelled
                if not call.done():
                    call.set_exception(RuntimeError("the storage rounds stopped"))
            self._waiting.clear()

    async def _serve_round(self, round_: list[_Waiting[Request, Result]]) -> None:
        try:
            results: Sequence[Result | Exception] = await self._serve(
                [request for request, _, _, _ in round_]
            )
        except Exception as exc:
            results = [exc] * len(round_)
        except BaseException:
            for _, call, _, _ in round_:  # cancellation: the rounds stop
                call.cancel()
            raise
        for (_, call, outcomes, i), result in zip(round_, results, strict=True):
            outcomes[i] = result
            if i == len(outcomes) - 1 and not call.done():  # the call's last request
                call.set_result(outcomes)
