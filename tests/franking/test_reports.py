"""Franking end to end: recipients drop messages whose commitment fails, and the
server stores a report only when it can prove the reported content was delivered."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest

from sottovoce.client import Client
from sottovoce.client.content import TextContent
from sottovoce.client.errors import ServerError
from sottovoce.client.franking import NotReportable
from sottovoce.protocol.franking import FrankedPlaintext
from sottovoce.protocol.public.franking import commitment
from sottovoce.storage import abuse_reports
from sottovoce.storage.repository import Repository
from tests.sealed.conftest import MakeClient, contacts, queued_rows
from tests.support import server_db
from tests.support.live_server import LiveServer


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def post_report(client: Client, messages: list[dict[str, Any]], reason: str = "abuse") -> Any:
    return await client._transport.request(
        "POST", "/v1/reports", {"reason": reason, "messages": messages}
    )


async def refused(client: Client, messages: list[dict[str, Any]]) -> ServerError:
    with pytest.raises(ServerError) as failure:
        await post_report(client, messages)
    return failure.value


def stored_reports(relay: LiveServer) -> list[dict[str, Any]]:
    return server_db.rows(relay, "SELECT * FROM abuse_reports ORDER BY id")


async def test_a_strangers_message_is_reported_with_full_attribution(
    make_client: MakeClient, relay: LiveServer
) -> None:
    stranger = await make_client("spammer")
    victim = await make_client("victim", "photos")
    await stranger.send(victim.address, "buy my stuff")
    (message,) = await victim.fetch()
    before = len(stored_reports(relay))
    filed = await victim.report([message.message_id], "spam")
    assert (filed.reported, filed.verification) == (stranger.address, "request-signature")
    rows = stored_reports(relay)
    assert len(rows) == before + 1
    row = rows[-1]
    assert (row["reporter"], row["reported"], row["reason"]) == (
        victim.address,
        stranger.address,
        "spam",
    )
    # The storage API moderation reads: the revealed content is what the victim saw.
    repo = Repository.connect(server_db.server_url(relay))
    try:
        report = await abuse_reports.get_report(repo.engine, filed.report_id)
        by_account = await abuse_reports.list_reports(
            repo.engine, reported_account_id=row["reported_account_id"]
        )
    finally:
        await repo.close()
    assert report is not None and [r.id for r in by_account] == [filed.report_id]
    (revealed,) = report.messages
    assert b"buy my stuff" in revealed.content
    assert (revealed.sender, revealed.sender_device, revealed.sender_certificate) == (
        stranger.address,
        1,
        None,
    )


async def test_a_sealed_message_is_attributed_by_its_certificate(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, bob = await contacts(make_client)
    await bob.send(alice.address, "a sealed insult")
    assert queued_rows(relay, alice)[0]["type"] == "sealed"
    (message,) = await alice.fetch()
    filed = await alice.report([message.message_id], "harassment")
    assert (filed.reported, filed.verification) == (bob.address, "sender-certificate")
    row = stored_reports(relay)[-1]
    assert row["reported"] == bob.address and row["verification"] == "sender-certificate"


async def reported_pair(make_client: MakeClient) -> tuple[Client, Client, list[str]]:
    """A stranger's two messages to a victim, received."""
    stranger = await make_client("troll")
    victim = await make_client("target", "photos")
    await stranger.send(victim.address, "first insult")
    await stranger.send(victim.address, "second insult")
    ids = [m.message_id for m in await victim.fetch()]
    assert len(ids) == 2
    return stranger, victim, ids


async def test_edited_text_fails_as_a_commitment_mismatch(make_client: MakeClient) -> None:
    _, victim, ids = await reported_pair(make_client)
    revealed = victim._evidence.revealed(ids[0])
    content = base64.b64decode(revealed["content"]).replace(b"first", b"worst")
    failure = await refused(victim, [{**revealed, "content": b64(content)}])
    assert (failure.status, failure.problem_type) == (422, "commitment-mismatch")
    # A forged franking key is the same failure.
    failure = await refused(victim, [{**revealed, "franking_key": b64(bytes(32))}])
    assert failure.problem_type == "commitment-mismatch"


async def test_another_messages_tag_fails_as_a_tag_mismatch(make_client: MakeClient) -> None:
    _, victim, ids = await reported_pair(make_client)
    first, second = (victim._evidence.revealed(i) for i in ids)
    failure = await refused(victim, [{**first, "franking_tag": second["franking_tag"]}])
    assert (failure.status, failure.problem_type) == (422, "tag-mismatch")
    # Nor can the delivery metadata be moved: another time, device or sender.
    for changed in (
        {"server_ts": first["server_ts"] + 1},
        {"recipient_device": 2},
        {"message_id": second["message_id"]},
        {"sender": "someone-else@chat"},
    ):
        assert (await refused(victim, [{**first, **changed}])).problem_type == "tag-mismatch"


async def test_a_tag_for_another_recipient_fails(make_client: MakeClient) -> None:
    stranger, victim, ids = await reported_pair(make_client)
    bystander = await make_client("bystander")
    # The bystander got hold of everything the victim's device kept.
    failure = await refused(bystander, [victim._evidence.revealed(ids[0])])
    assert (failure.status, failure.problem_type) == (422, "tag-mismatch")
    # So did the sender, who would like to report its own message as someone else's.
    assert (await refused(stranger, [victim._evidence.revealed(ids[0])])).problem_type == (
        "tag-mismatch"
    )


async def test_a_replayed_report_is_refused(make_client: MakeClient, relay: LiveServer) -> None:
    _, victim, ids = await reported_pair(make_client)
    await victim.report(ids[:1], "first report")
    count = len(stored_reports(relay))
    failure = await refused(victim, [victim._evidence.revealed(ids[0])])
    assert (failure.status, failure.problem_type) == (409, "already-reported")
    # A report repeating the message among new ones is refused whole.
    with pytest.raises(ServerError) as again:
        await victim.report(ids, "both")
    assert again.value.problem_type == "already-reported"
    assert len(stored_reports(relay)) == count
    await victim.report(ids[1:], "the second one")
    assert len(stored_reports(relay)) == count + 1


async def test_a_sealed_messages_certificate_cannot_be_stripped_or_swapped(
    make_client: MakeClient,
) -> None:
    alice, bob = await contacts(make_client)
    carol = await make_client("carol")
    await bob.send(alice.address, "sealed")
    (message,) = await alice.fetch()
    revealed = alice._evidence.revealed(message.message_id)
    assert revealed["sender"] is None and revealed["sender_certificate"] is not None
    # Claiming it was unsealed, from bob: the certificate was committed.
    unsealed = {**revealed, "sender_certificate": None, "sender": bob.address, "sender_device": 1}
    assert (await refused(alice, [unsealed])).problem_type == "commitment-mismatch"
    # Swapping in carol's certificate to blame her: also committed.
    swapped = {**revealed, "sender_certificate": b64(await carol._sealed.certificate())}
    assert (await refused(alice, [swapped])).problem_type == "commitment-mismatch"
    # Both a sender and a certificate: malformed.
    both = {**revealed, "sender": bob.address, "sender_device": 1}
    assert (await refused(alice, [both])).problem_type == "malformed"


async def test_one_report_names_one_sender(make_client: MakeClient) -> None:
    _, victim, ids = await reported_pair(make_client)
    other = await make_client("other")
    await other.send(victim.address, "me too")
    (third,) = await victim.fetch()
    with pytest.raises(ServerError) as failure:
        await victim.report([ids[0], third.message_id], "two senders")
    assert (failure.value.status, failure.value.problem_type) == (400, "mixed-senders")


async def test_malformed_reports_are_refused_and_the_server_keeps_serving(
    make_client: MakeClient,
) -> None:
    _, victim, ids = await reported_pair(make_client)
    revealed = victim._evidence.revealed(ids[0])
    for broken in (
        {**revealed, "franking_tag": b64(bytes(31))},
        {**revealed, "franking_key": "not base64"},
        {**revealed, "commitment": b64(bytes(33))},
        {**revealed, "content": ""},
    ):
        assert 400 <= (await refused(victim, [broken])).status < 500
    assert 400 <= (await refused(victim, [])).status < 500
    with pytest.raises(ServerError) as too_many:
        await post_report(victim, [revealed] * 21)
    assert too_many.value.status == 422
    with pytest.raises(NotReportable):
        await victim.report(["never-received"], "nothing")
    await victim.report(ids[:1], "still works")


async def craft_and_send(
    sender: Client, recipient: str, shown: str, committed: bytes | None
) -> None:
    """A malicious sender: the recipient decrypts ``shown``, the commitment says otherwise."""
    message_id = f"m{time.time_ns()}"
    content = TextContent(message_id, shown, int(time.time() * 1000)).encode()
    franked = FrankedPlaintext.new(content)
    devices = await sender._contact(recipient)
    envelopes = await sender._outgoing.encrypt_for(recipient, devices, franked.to_bytes())
    wrong = None if committed is None else commitment(franked.franking_key, committed)
    await sender._outgoing.post(message_id, recipient, envelopes, commitment=wrong)


async def test_the_recipient_drops_a_message_its_commitment_does_not_open(
    make_client: MakeClient, relay: LiveServer
) -> None:
    sender = await make_client("mallory")
    victim = await make_client("alice", "photos")
    await craft_and_send(sender, victim.address, "what you see", b"what a report would show")
    await craft_and_send(sender, victim.address, "no franking at all", None)
    assert await victim.fetch() == []
    assert queued_rows(relay, victim) == []  # dropped (acknowledged), not retried forever
    # The same sender's honest message still arrives: the session was not disturbed.
    await asyncio.sleep(0)
    await sender.send(victim.address, "honest")
    assert [m.text for m in await victim.fetch()] == ["honest"]


async def test_deleting_a_request_deletes_its_evidence(make_client: MakeClient) -> None:
    stranger = await make_client("pest")
    victim = await make_client("host", "photos")
    other = await make_client("friend")
    await stranger.send(victim.address, "unwanted")
    await other.send(victim.address, "wanted")
    unwanted, wanted = await victim.fetch()
    assert victim.is_request(stranger.address)
    victim.delete_request(stranger.address)
    with pytest.raises(NotReportable):
        await victim.report([unwanted.message_id], "gone")
    assert victim._evidence.revealed(wanted.message_id)["content"]
