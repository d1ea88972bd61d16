"""The fan-out interface: a wake-up signal per device, no content.

A publisher says "device N's queue grew"; whoever holds that device's live
connection re-reads the durable queue. The in-process implementation serves one
node; a cross-node one (Redis pub/sub) publishes the same signal on a channel per
device, so the server needs no change to run on many nodes.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from sottovoce.fanout.listeners import Wake


class Fanout(Protocol):
    # True when no other node shares this fan-out (in-process): every row for a
    # device is then stored by this node, in the order it offers them (server.live).
    single_node: bool

    async def publish(self, device_pk: int) -> None:
        """Wake every live connection of this device (if any)."""
        ...

    async def wake_other_nodes(self, device_pks: Collection[int]) -> None:
        """Wake these devices' live connections held by other nodes only: this
        node's own were offered the rows or woken already (``server.live``)."""
        ...

    def subscribe(self, device_pk: int) -> AbstractAsyncContextManager[Wake]:
        """While inside, the event is announced whenever the device is published."""
        ...
