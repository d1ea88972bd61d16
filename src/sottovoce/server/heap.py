"""The node's heap after start-up: what it imported and built is never walked
by the garbage collector again, and what it serves is walked rarely.

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

The thresholds are the other half. By default a young collection runs each
time 700 more objects are alive than at the last one, and a full collection
after every hundred young ones (the rule that spaces full collections by the
heap's size, "a quarter of the long-lived objects", counts only what is not
frozen). A node's in-flight sends cross 700 every few dozen messages (the
answers of one storage round are allocated together and die together), so
under load it ran a young collection every ~20 messages and a full one about
every second, walking the ~50,000 objects made since start-up each time
(then mostly the send path's statements, which storage.prepared no longer
keeps): 20 µs of CPU a message, a tenth of the node's, in pauses of up to
20 ms (docs/performance.md, "Load, session 7"). Almost none of it was garbage
the collector had to find: the send path's objects are freed by their
reference counts, and the collections found nothing. :data:`YOUNG_THRESHOLD`
lets that churn come and go; a lasting growth of the heap, or cyclic garbage,
still triggers collections, after at most that many objects.
"""

from __future__ import annotations

import gc

# Objects alive beyond the last young collection before the next one: above what
# a node's in-flight sends allocate at once, so only a lasting growth of the heap
# (or cyclic garbage: at most this many objects, a few MiB) runs one.
YOUNG_THRESHOLD = 20_000
# CPython's own: a middle collection every 10 young ones, a full one every 10 of those.
MIDDLE_THRESHOLD = 10
FULL_THRESHOLD = 10


def freeze_startup() -> None:
    """Collect what start-up left over, exempt the rest from collection, and
    space the collections of what the node serves.

    Call once, after the app is built and before it serves. Collecting first
    means nothing cyclic and already garbage is frozen (it would never be freed).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, FULL_THRESHOLD)
