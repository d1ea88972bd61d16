"""``GET /metrics`` is Prometheus's text exposition format, parsed the way a scraper
parses it (prometheus_client's own parser), and its figures follow what the node did:
copies accepted, delivered over a WebSocket, acknowledged; queue depths; live
connections; the send and delivery latency histograms (docs/operations.md, Metrics)."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from sottovoce.client import Client
from tests.support import services
from tests.support.device import ACK, MESSAGES, WEBSOCKET, BareDevice, fresh_handle
from tests.support.live_server import LiveServer

FRAME_TIMEOUT_S = 15.0
# The exposition format's sample line: a metric name, optional labels, a float value.
SAMPLE_LINE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})?'
    r" (-?[0-9.eE+-]+|[+-]Inf|NaN)$"
)
# Every family the node exposes, with the type a scraper must see.
FAMILIES = {
    "sottovoce_messages_accepted": "counter",
    "sottovoce_messages_delivered": "counter",
    "sottovoce_messages_acknowledged": "counter",
    "sottovoce_websocket_connections": "gauge",
    "sottovoce_queued_messages": "gauge",
    "sottovoce_queue_depth_max": "gauge",
    "sottovoce_redis_connected": "gauge",
    "sottovoce_send_seconds": "histogram",
    "sottovoce_delivery_seconds": "histogram",
    "sottovoce_queue_read_seconds": "histogram",
}


class Scrape:
    """One parsed scrape: the families by name, and their samples by sample name."""

    def __init__(self, text: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples: dict[str, list[Sample]] = {}
        for family in self.families.values():
            for sample in family.samples:
                self.samples.setdefault(sample.name, []).append(sample)

    def value(self, name: str) -> float:
        (sample,) = self.samples[name]
        return float(sample.value)

    def buckets(self, histogram: str) -> list[tuple[float, float]]:
        return sorted(
            (float(s.labels["le"]), float(s.value)) for s in self.samples[f"{histogram}_bucket"]
        )


async def scrape(http: httpx.AsyncClient) -> Scrape:
    response = await http.get("/metrics")
    assert response.status_code == 200
    # The text exposition format (0.0.4, or 1.0.0 from prometheus_client 0.22 on, the
    # same lines): Prometheus reads any text/plain scrape with its text parser.
    assert re.match(r"text/plain; version=(0\.0\.4|1\.0\.0)", response.headers["content-type"])
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            assert SAMPLE_LINE.match(line), line
    return Scrape(response.text)


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as client:
        yield client


async def next_envelope(ws: Any) -> dict[str, Any]:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S))
        if frame["type"] == "envelope":
            envelope: dict[str, Any] = frame["envelope"]
            return envelope


async def test_every_family_has_its_type_help_and_a_well_formed_histogram(
    http: httpx.AsyncClient,
) -> None:
    alice = await BareDevice().register(http)
    bob = await BareDevice(app="photos").register(http)
    body = BareDevice.send_body(bob.address)
    assert (await alice.call(http, "POST", MESSAGES, body)).status_code == 200
    page = (await bob.call(http, "GET", MESSAGES)).json()  # one delivery, by fetch
    assert len(page["messages"]) == 1

    metrics = await scrape(http)
    for name, kind in FAMILIES.items():
        assert name in metrics.families, name
        assert metrics.families[name].type == kind, name
        assert metrics.families[name].documentation, name
    for histogram in ("sottovoce_send_seconds", "sottovoce_delivery_seconds"):
        buckets = metrics.buckets(histogram)
        bounds = [bound for bound, _ in buckets]
        counts = [count for _, count in buckets]
        assert bounds[-1] == math.inf and len(bounds) > 5, histogram
        assert counts == sorted(counts), f"{histogram} buckets are not cumulative"
        assert counts[-1] == metrics.value(f"{histogram}_count") >= 1, histogram
        assert metrics.value(f"{histogram}_sum") >= 0
    # Nothing on the page names an account or a message.
    text = (await http.get("/metrics")).text
    for secret in (alice.handle, bob.handle, body["message_id"]):
        assert secret not in text


async def test_figures_follow_sends_deliveries_acks_and_connections(
    live_server: LiveServer, http: httpx.AsyncClient
) -> None:
    alice = await BareDevice().register(http)
    bob = await BareDevice(app="photos").register(http)
    carol = await BareDevice(app="photos").register(http)
    before = await scrape(http)
    assert before.value("sottovoce_queued_messages") == 0
    assert before.value("sottovoce_websocket_connections") == 0
    assert before.value("sottovoce_redis_connected") == (1 if services.redis_selected() else 0)

    for to in (bob, bob, carol):
        body = BareDevice.send_body(to.address)
        assert (await alice.call(http, "POST", MESSAGES, body)).status_code == 200
    queued = await scrape(http)
    assert queued.value("sottovoce_messages_accepted_total") == (
        before.value("sottovoce_messages_accepted_total") + 3
    )
    assert queued.value("sottovoce_send_seconds_count") == (
        before.value("sottovoce_send_seconds_count") + 3
    )
    assert queued.value("sottovoce_queued_messages") == 3
    assert queued.value("sottovoce_queue_depth_max") == 2  # bob's two

    header = bob.authorization("GET", WEBSOCKET, b"")
    url = "ws" + live_server.url.removeprefix("http") + WEBSOCKET
    async with websockets.connect(url, additional_headers={"authorization": header}) as ws:
        envelopes = [await next_envelope(ws), await next_envelope(ws)]
        live = await scrape(http)
        assert live.value("sottovoce_websocket_connections") == 1
        assert live.value("sottovoce_messages_delivered_total") == (
            before.value("sottovoce_messages_delivered_total") + 2
        )
        assert live.value("sottovoce_delivery_seconds_count") == (
            before.value("sottovoce_delivery_seconds_count") + 2
        )
        assert live.value("sottovoce_queued_messages") == 3  # handed over, not acknowledged
        await ws.send(json.dumps({"type": "ack", "ids": [e["id"] for e in envelopes]}))
        for _ in range(100):  # the ack is a frame: read back once the node applied it
            acked = await scrape(http)
            if acked.value("sottovoce_queued_messages") == 1:
                break
            await asyncio.sleep(0.05)
        assert acked.value("sottovoce_queued_messages") == 1  # carol's
        assert acked.value("sottovoce_queue_depth_max") == 1
        assert acked.value("sottovoce_messages_acknowledged_total") == (
            before.value("sottovoce_messages_acknowledged_total") + 2
        )

    page = (await carol.call(http, "GET", MESSAGES)).json()
    await carol.call(http, "POST", ACK, {"ids": [m["id"] for m in page["messages"]]})
    for _ in range(100):  # the node notices the closed socket on its own time
        after = await scrape(http)
        if after.value("sottovoce_websocket_connections") == 0:
            break
        await asyncio.sleep(0.05)
    assert after.value("sottovoce_websocket_connections") == 0
    assert after.value("sottovoce_queued_messages") == 0
    assert after.value("sottovoce_queue_depth_max") == 0
    assert after.value("sottovoce_messages_delivered_total") == (
        before.value("sottovoce_messages_delivered_total") + 3
    )
    assert after.value("sottovoce_messages_acknowledged_total") == (
        before.value("sottovoce_messages_acknowledged_total") + 3
    )


async def test_group_messages_count_as_accepted_and_timed_sends(
    live_server: LiveServer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    alice = await Client.create_account(tmp_path / "a", live_server.url, "chat", fresh_handle())
    bob = await Client.create_account(tmp_path / "b", live_server.url, "photos", fresh_handle())
    try:
        await alice.groups.create("family")
        await alice.groups.add("family", bob.address)
        before = await scrape(http)
        await alice.groups.send("family", "dinner at 8?")
        after = await scrape(http)
        # One copy, for bob's one device (the sender's own device gets none).
        assert after.value("sottovoce_messages_accepted_total") == (
            before.value("sottovoce_messages_accepted_total") + 1
        )
        assert after.value("sottovoce_send_seconds_count") == (
            before.value("sottovoce_send_seconds_count") + 1
        )
        assert (
            after.value("sottovoce_queued_messages")
            == before.value("sottovoce_queued_messages") + 1
        )
    finally:
        await alice.close()
        await bob.close()
