"""Operational figures in Prometheus's format (``GET /metrics``).

Only counts, depths and timings: nothing per account, device or message, so the
page adds nothing to what the server may know (DESIGN.md). One set per process,
like the process itself: a node's figures.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import time
from collections.abc import Iterator, Sequence

from prometheus_client import REGISTRY, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from sottovoce.storage.repository import QueuedMessage

# From a loopback hop (~1 ms) to a client that was offline for a minute.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)


class _Count:
    """A counter the send path adds to once or twice a message: a plain number on
    the event loop's thread, read when the page is (a Prometheus ``Counter`` takes
    a lock and three calls an increment, a tenth of a WebSocket send's own work)."""

    __slots__ = ("documentation", "name", "value")

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def family(self) -> Metric:
        return CounterMetricFamily(self.name, self.documentation, value=self.value)


class _Timings:
    """A histogram kept like :class:`_Count`: its buckets' own counts (``le`` is
    inclusive, as Prometheus's), summed up into cumulative ones when read."""

    __slots__ = ("bounds", "counts", "documentation", "name", "total")

    def __init__(self, name: str, documentation: str, bounds: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last is +Inf's
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total += seconds

    @contextlib.contextmanager
    def time(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.observe(time.perf_counter() - started)

    def family(self) -> Metric:
        buckets, seen = [], 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            seen += count
            buckets.append(("+Inf" if bound == math.inf else repr(bound), seen))
        return HistogramMetricFamily(
            self.name, self.documentation, buckets=buckets, sum_value=self.total
        )


ACCEPTED = _Count("sottovoce_messages_accepted", "Device copies stored by sends through this node")
DELIVERED = _Count(
    "sottovoce_messages_delivered", "Device copies handed to a device (WebSocket or fetch)"
)
ACKNOWLEDGED = _Count("sottovoce_messages_acknowledged", "Device copies acknowledged and deleted")
CONNECTIONS = Gauge("sottovoce_websocket_connections", "Live WebSocket connections on this node")
SEND_SECONDS = _Timings(
    "sottovoce_send_seconds", "Time to accept one send (store every copy)", _LATENCY_BUCKETS
)
DELIVERY_SECONDS = _Timings(
    "sottovoce_delivery_seconds",
    "From a copy's arrival to its hand-over to the device",
    _LATENCY_BUCKETS,
)
QUEUE_READ_SECONDS = _Timings(
    "sottovoce_queue_read_seconds",
    "A live stream's queue read, its wait for the round included (storage.unsent_reads)",
    _LATENCY_BUCKETS,
)
QUEUED = Gauge("sottovoce_queued_messages", "Device copies waiting for acknowledgement (all nodes)")
QUEUE_DEEPEST = Gauge("sottovoce_queue_depth_max", "The deepest device queue (all nodes)")
REDIS_CONNECTED = Gauge(
    "sottovoce_redis_connected", "1 when cross-node wake-ups flow through Redis"
)


class _SendPath(Collector):
    """The families above that are not ``prometheus_client``'s own, on its page."""

    def collect(self) -> Iterator[Metric]:
        for figure in (
            ACCEPTED,
            DELIVERED,
            ACKNOWLEDGED,
            SEND_SECONDS,
            DELIVERY_SECONDS,
            QUEUE_READ_SECONDS,
        ):
            yield figure.family()


REGISTRY.register(_SendPath())


def delivered(messages: Sequence[QueuedMessage]) -> None:
    if not messages:
        return
    DELIVERED.inc(len(messages))
    now_ms = time.time() * 1000
    for message in messages:
        DELIVERY_SECONDS.observe(max(0.0, now_ms - message.server_ts) / 1000)
