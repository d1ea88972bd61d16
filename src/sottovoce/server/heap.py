"""The node's heap after start-up: what it imported and built is never walked
by the garbage collector again.

CPython's cyclic collector walks every object it tracks in a full (generation
2) collection, with the event loop stopped. A node holds about 100,000 such
objects once the server stack is imported and the app built (modules,
classes, functions, the app's routes), and a full collection of them took
80–140 ms of CPU, up to 1.4 s of wall time on the loaded shared machine, a
few times a minute under load: every send and delivery in that window
waited (bench/load.py's latency tail, docs/performance.md). Those objects
live as long as the process, so ``gc.freeze()`` moves them to the permanent
generation, which no collection walks; a full collection then walks only what
was made since (connections, requests, storage state).
"""

from __future__ import annotations

import gc


def freeze_startup() -> None:
    """Collect what start-up left over, then exempt the rest from collection.

    Call once, after the app is built and before it serves. Collecting first
    means nothing cyclic and already garbage is frozen (it would never be freed).
    """
    gc.collect()
    gc.freeze()
