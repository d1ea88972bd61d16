"""Sealed sender end to end on the real server: contacts' messages name no sender on
the server, strangers' do, and only the recipient's access key gets a sealed send in."""

from __future__ import annotations

import base64
import secrets
import time

import httpx

from sottovoce.client import Client
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.sender_certificate import SenderCertificate
from tests.sealed.conftest import MakeClient, contacts, queued_rows
from tests.support import server_db
from tests.support.live_server import LiveServer


def identifiers_of(client: Client) -> list[bytes]:
    """Everything that would name ``client`` in a stored row."""
    handle = client.address.split("@")[0]
    identity = client._identity.public
    return [
        client.address.encode(),
        handle.encode(),
        identity.to_bytes(),
        identity.sign_public,
        identity.dh_public,
        client._account_key.public,
    ]


async def test_a_sealed_message_is_stored_without_any_sender_identifier(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, bob = await contacts(make_client)
    sent = await bob.send(alice.address, "sealed from bob")
    (row,) = queued_rows(relay, alice)
    assert row["type"] == "sealed"
    assert (row["sender"], row["sender_device"], row["sender_device_pk"]) == ("", 0, 0)
    # The queue id is the server's; the message id a fresh delivery id, not the content's.
    assert row["message_id"] != sent.message_id
    for column, value in row.items():
        stored = value if isinstance(value, bytes) else str(value).encode()
        for identifier in identifiers_of(bob):
            assert identifier not in stored, f"{column} names the sender"
    log = relay.log_text()
    assert bob.address not in log and bob.address.split("@")[0] not in log
    (received,) = await alice.fetch()
    assert (received.sender, received.sender_device, received.text) == (
        bob.address,
        1,
        "sealed from bob",
    )
    assert queued_rows(relay, alice) == []


async def test_messages_to_strangers_are_unsealed_and_name_their_sender(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, bob = await contacts(make_client)
    stranger = await make_client("stranger")
    await stranger.send(bob.address, "hi, we have not met")
    (row,) = queued_rows(relay, bob)
    assert row["type"] in {"prekey", "message"}
    assert (row["sender"], row["sender_device"]) == (stranger.address, 1)
    (received,) = await bob.fetch()
    assert received.sender == stranger.address
    # Alice, a contact, is sealed both ways by now.
    await alice.send(bob.address, "sealed from alice")
    assert [r["type"] for r in queued_rows(relay, bob)] == ["sealed"]
    assert [m.text for m in await bob.fetch()] == ["sealed from alice"]


async def sealed_post(relay: LiveServer, recipient: str, headers: dict[str, str]) -> httpx.Response:
    body = {
        "message_id": secrets.token_hex(8),
        "recipient": recipient,
        "commitment": base64.b64encode(bytes(32)).decode(),
        "envelopes": [{"device_id": 1, "type": "sealed", "body": base64.b64encode(b"x").decode()}],
    }
    async with httpx.AsyncClient(base_url=relay.url) as http:
        return await http.post("/v1/messages/sealed", json=body, headers=headers)


async def test_a_wrong_or_missing_access_key_is_refused_and_nothing_is_stored(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, _ = await contacts(make_client)
    never_published = await make_client("quiet")
    cases = [
        (alice.address, {}),
        (alice.address, {"unidentified-access-key": base64.b64encode(bytes(16)).decode()}),
        (alice.address, {"unidentified-access-key": "not base64!"}),
        (alice.address, {"unidentified-access-key": base64.b64encode(bytes(64)).decode()}),
        (
            never_published.address,
            {"unidentified-access-key": base64.b64encode(bytes(16)).decode()},
        ),
        ("nobody@chat", {"unidentified-access-key": base64.b64encode(bytes(16)).decode()}),
    ]
    for recipient, headers in cases:
        answer = await sealed_post(relay, recipient, headers)
        assert answer.status_code == 401, (recipient, headers, answer.text)
        assert answer.json()["type"] == "bad-access-key"
    assert queued_rows(relay, alice) == [] and queued_rows(relay, never_published) == []
    async with httpx.AsyncClient(base_url=relay.url) as http:
        assert (await http.get("/healthz")).status_code == 200


async def test_a_certificate_that_does_not_match_the_session_is_dropped(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, bob = await contacts(make_client)
    carol = await make_client("carol")
    carols_certificate = await carol._sealed.certificate()

    async def someone_elses() -> bytes:
        return carols_certificate

    bob._sealed.certificate = someone_elses  # type: ignore[method-assign]
    await bob.send(alice.address, "pretending to be carol")
    assert [r["type"] for r in queued_rows(relay, alice)] == ["sealed"]
    assert await alice.fetch() == []
    assert queued_rows(relay, alice) == []  # dropped, not left to be retried


async def test_a_certificate_not_signed_by_the_server_is_dropped(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, bob = await contacts(make_client)
    forged = SenderCertificate.issue(
        SigningKey.generate(),
        1,
        address=bob.address,
        device_id=1,
        identity=bob._identity.public,
        expires_ms=2**62,
    ).encoded

    async def forged_certificate() -> bytes:
        return forged

    bob._sealed.certificate = forged_certificate  # type: ignore[method-assign]
    await bob.send(alice.address, "forged certificate")
    assert await alice.fetch() == []


async def test_a_rotated_profile_key_stops_old_holders_sealing(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, bob = await contacts(make_client)
    await alice.rotate_profile_key()
    # Bob's access key is refused now; his client falls back to an unsealed message.
    await bob.send(alice.address, "after the rotation")
    (row,) = queued_rows(relay, alice)
    assert (row["type"], row["sender"]) != ("sealed", "")
    assert row["sender"] == bob.address
    assert [m.text for m in await alice.fetch()] == ["after the rotation"]


async def test_an_expired_certificate_from_the_real_server_key_is_dropped(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, bob = await contacts(make_client)
    (keys,) = server_db.rows(
        relay, "SELECT key_id, secret FROM delivery_keys WHERE purpose = 'sender-certificate'"
    )
    key_id, secret = keys["key_id"], bytes(keys["secret"])
    expired = SenderCertificate.issue(
        SigningKey.from_bytes(secret),
        key_id,
        address=bob.address,
        device_id=1,
        identity=bob._identity.public,
        expires_ms=int(time.time() * 1000) - 1,
    ).encoded

    async def expired_certificate() -> bytes:
        return expired

    bob._sealed.certificate = expired_certificate  # type: ignore[method-assign]
    await bob.send(alice.address, "too late")
    assert [r["type"] for r in queued_rows(relay, alice)] == ["sealed"]
    assert await alice.fetch() == []
    # The same certificate, unexpired, is accepted: only the expiry was wrong.
    valid = SenderCertificate.issue(
        SigningKey.from_bytes(secret),
        key_id,
        address=bob.address,
        device_id=1,
        identity=bob._identity.public,
        expires_ms=int(time.time() * 1000) + 60_000,
    ).encoded

    async def valid_certificate() -> bytes:
        return valid

    bob._sealed.certificate = valid_certificate  # type: ignore[method-assign]
    await bob.send(alice.address, "in time")
    assert [m.text for m in await alice.fetch()] == ["in time"]
