"""The server takes only well-formed commitments, and tags each copy it queues."""

from __future__ import annotations

import base64

import pytest

from sottovoce.client.errors import ServerError
from tests.sealed.conftest import MakeClient, queued_rows
from tests.support.live_server import LiveServer


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("commitment", "status", "kind"),
    [
        (b64(bytes(31)), 400, "bad-commitment"),
        (b64(bytes(48)), 413, "field-too-large"),
        ("***", 400, "malformed-body"),
        ("A" * 65, 422, "malformed-body"),
    ],
)
async def test_malformed_commitments_are_refused_and_nothing_is_queued(
    make_client: MakeClient, relay: LiveServer, commitment: str, status: int, kind: str
) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    body = {
        "message_id": "m-1",
        "recipient": bob.address,
        "commitment": commitment,
        "envelopes": [{"device_id": 1, "type": "message", "body": b64(b"\x01\x02" + bytes(60))}],
    }
    with pytest.raises(ServerError) as failure:
        await alice._transport.request("POST", "/v1/messages", body)
    assert (failure.value.status, failure.value.problem_type) == (status, kind)
    assert queued_rows(relay, bob) == []


async def test_every_copy_gets_its_own_tag(make_client: MakeClient, relay: LiveServer) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    await alice.send(bob.address, "first")
    await alice.send(bob.address, "second")
    rows = queued_rows(relay, bob)
    assert len(rows) == 2
    assert all(len(r["commitment"]) == 32 and len(r["franking_tag"]) == 32 for r in rows)
    assert rows[0]["commitment"] != rows[1]["commitment"]
    assert rows[0]["franking_tag"] != rows[1]["franking_tag"]
    assert [m.text for m in await bob.fetch()] == ["first", "second"]
