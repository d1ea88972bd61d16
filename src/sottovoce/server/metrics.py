"""Operational figures in Prometheus's format (``GET /metrics``).

Only counts, depths and timings: nothing per account, device or message, so the
page adds nothing to what the server may know (DESIGN.md). One set per process,
like the process itself: a node's figures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

from sottovoce.storage.repository import QueuedMessage

# From a loopback hop (~1 ms) to a client that was offline for a minute.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60)

ACCEPTED = Counter("sottovoce_messages_accepted", "Device copies stored by sends through this node")
DELIVERED = Counter(
    "sottovoce_messages_delivered", "Device copies handed to a device (WebSocket or fetch)"
)
ACKNOWLEDGED = Counter("sottovoce_messages_acknowledged", "Device copies acknowledged and deleted")
CONNECTIONS = Gauge("sottovoce_websocket_connections", "Live WebSocket connections on this node")
SEND_SECONDS = Histogram(
    "sottovoce_send_seconds", "Time to accept one send (store every copy)", buckets=_LATENCY_BUCKETS
)
DELIVERY_SECONDS = Histogram(
    "sottovoce_delivery_seconds",
    "From a copy's arrival to its hand-over to the device",
    buckets=_LATENCY_BUCKETS,
)
QUEUED = Gauge("sottovoce_queued_messages", "Device copies waiting for acknowledgement (all nodes)")
QUEUE_DEEPEST = Gauge("sottovoce_queue_depth_max", "The deepest device queue (all nodes)")
REDIS_CONNECTED = Gauge(
    "sottovoce_redis_connected", "1 when cross-node wake-ups flow through Redis"
)


def delivered(messages: Sequence[QueuedMessage]) -> None:
    if not messages:
        return
    DELIVERED.inc(len(messages))
    now_ms = time.time() * 1000
    for message in messages:
        DELIVERY_SECONDS.observe(max(0.0, now_ms - message.server_ts) / 1000)
