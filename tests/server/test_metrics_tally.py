"""The send path's counters and histograms (server.metrics, plain numbers read at
scrape time) expose what ``prometheus_client``'s own would for the same figures."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

from sottovoce.server import metrics

BOUNDS = metrics._LATENCY_BUCKETS
# Bounds themselves included: a bucket's ``le`` is inclusive.
SECONDS = st.one_of(st.sampled_from([float(b) for b in BOUNDS]), st.floats(0, 120))


class Own(Collector):
    def __init__(self, *figures: metrics._Count | metrics._Timings) -> None:
        self.figures = figures

    def collect(self):  # type: ignore[no-untyped-def]
        for figure in self.figures:
            yield figure.family()


def page(registry: CollectorRegistry) -> list[str]:
    """The page's lines but ``_created`` (a time, which the plain figures omit)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


@given(observations=st.lists(SECONDS, max_size=40), increments=st.lists(st.integers(0, 50)))
def test_the_plain_figures_print_as_prometheus_clients_own(
    observations: list[float], increments: list[int]
) -> None:
    reference, plain = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram("t_seconds", "timings", buckets=BOUNDS, registry=reference)
    counter = Counter("t_copies", "copies", registry=reference)
    timings = metrics._Timings("t_seconds", "timings", BOUNDS)
    count = metrics._Count("t_copies", "copies")
    plain.register(Own(timings, count))
    for seconds in observations:
        histogram.observe(seconds)
        timings.observe(seconds)
    for n in increments:
        counter.inc(n)
        count.inc(n)
    assert page(plain) == page(reference)
