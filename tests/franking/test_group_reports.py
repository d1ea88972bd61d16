"""Franking of group (MLS) messages against the real server: members drop messages
whose commitment does not open, and a report of a group message verifies only for
exactly the content, delivery and group the server tagged (docs/safety.md)."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from sottovoce.cli.main import app
from sottovoce.client import Client
from sottovoce.client.errors import ServerError
from sottovoce.protocol.franking import FrankedPlaintext
from sottovoce.protocol.public.franking import Delivery, delivery_tag
from tests.sealed.conftest import MakeClient, queued_rows
from tests.support import server_db
from tests.support.cli import create_account, runner, sv
from tests.support.live_server import LiveServer
from tests.support.people import link


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def refused(client: Client, messages: list[dict[str, Any]]) -> ServerError:
    with pytest.raises(ServerError) as failure:
        await client._transport.request(
            "POST", "/v1/reports", {"reason": "abuse", "messages": messages}
        )
    return failure.value


def report_rows(relay: LiveServer, report_id: int) -> list[dict[str, Any]]:
    return server_db.rows(
        relay,
        "SELECT * FROM abuse_report_messages WHERE report_id = :report ORDER BY position",
        report=report_id,
    )


async def group_of(owner: Client, *others: Client) -> bytes:
    """A group of ``owner`` and ``others``, every member caught up; its MLS group id."""
    name = f"g-{secrets.token_hex(3)}"
    await owner.groups.create(name)
    info = await owner.groups.add(name, *(o.address for o in others))
    for other in others:
        await other.fetch()
        # A stranger's invite is a message request (docs/safety.md): join it.
        for request in other.group_requests():
            other.accept_group_request(request.group)
    return info.group_id


async def said(sender: Client, group_id: bytes, *texts: str) -> None:
    (info,) = [g for g in sender.groups.all() if g.group_id == group_id]
    for text in texts:
        await sender.groups.send(info.name, text)


class Tamper:
    """Changes the bodies of the group messages ``client`` posts while ``change`` is set."""

    def __init__(self, client: Client) -> None:
        self.change: Any = None
        original = client._transport.request

        async def request(method: str, path: str, payload: Any = None) -> Any:
            application = payload is not None and payload.get("type") == "application"
            if self.change is not None and application:
                payload = self.change(dict(payload))
            return await original(method, path, payload)

        client._transport.request = request  # type: ignore[method-assign]


async def test_a_group_message_report_verifies_and_names_the_group(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, bob = await make_client("alice"), await make_client("bob", "photos")
    group_id = await group_of(alice, bob)
    await said(alice, group_id, "you will regret joining")
    (message,) = [m for m in await bob.fetch() if m.text == "you will regret joining"]
    assert message.group is not None
    filed = await bob.report([message.message_id], "harassment in a group")
    assert (filed.reported, filed.verification) == (alice.address, "request-signature")
    (stored,) = report_rows(relay, filed.report_id)
    assert stored["group_id"] == group_id
    assert (stored["sender"], stored["sender_device"]) == (alice.address, 1)
    assert b"you will regret joining" in stored["content"]
    assert stored["sender_certificate"] is None
    # A replay of the same report is refused and stores nothing more.
    failure = await refused(bob, [bob._evidence.revealed(message.message_id)])
    assert (failure.status, failure.problem_type) == (409, "already-reported")
    assert len(report_rows(relay, filed.report_id + 1)) == 0


async def test_queued_group_copies_carry_a_tag_per_member_device(
    make_client: MakeClient, relay: LiveServer
) -> None:
    alice, bob, carol = (
        await make_client("alice"),
        await make_client("bob", "photos"),
        await make_client("carol"),
    )
    group_id = await group_of(alice, bob, carol)
    await said(alice, group_id, "one ciphertext, two tags")
    (for_bob,) = [r for r in queued_rows(relay, bob) if r["type"] == "mls-application"]
    (for_carol,) = [r for r in queued_rows(relay, carol) if r["type"] == "mls-application"]
    assert for_bob["body"] == for_carol["body"]
    assert for_bob["commitment"] == for_carol["commitment"] and len(for_bob["commitment"]) == 32
    assert for_bob["franking_tag"] != for_carol["franking_tag"]


async def test_forged_group_reports_fail_with_their_reason(
    make_client: MakeClient, relay: LiveServer, tmp_path: Path
) -> None:
    alice, bob, carol = (
        await make_client("alice"),
        await make_client("bob", "photos"),
        await make_client("carol"),
    )
    bob2 = await link(bob, tmp_path / "bob-laptop", relay.url)
    try:
        await bob2.fetch()  # the new device uploads its KeyPackages on first contact
        await alice.fetch()
        group_id = await group_of(alice, bob, carol)
        await bob2.fetch()
        await said(alice, group_id, "first threat", "second threat")
        ids = {m.text: m.message_id for m in await bob.fetch() if m.group is not None}
        first = bob._evidence.revealed(ids["first threat"])
        second = bob._evidence.revealed(ids["second threat"])
        await bob2.fetch()
        on_laptop = bob2._evidence.revealed(ids["first threat"])
        await carol.fetch()
        carols = carol._evidence.revealed(ids["first threat"])
    finally:
        await bob2.close()

    # Edited text: the content no longer opens the commitment.
    original = base64.b64decode(first["content"])
    assert b"first threat" in original
    edited = original.replace(b"first threat", b"first thread")
    failure = await refused(bob, [{**first, "content": b64(edited)}])
    assert (failure.status, failure.problem_type) == (422, "commitment-mismatch")
    # Another message's tag (and commitment): bound to the other message id.
    for swapped in ({"franking_tag": second["franking_tag"]}, {"message_id": second["message_id"]}):
        failure = await refused(bob, [{**first, **swapped}])
        assert (failure.status, failure.problem_type) == (422, "tag-mismatch")
    # A tag the server gave another recipient device: bob's laptop, or carol.
    assert on_laptop["recipient_device"] == 2 and on_laptop["franking_tag"] != first["franking_tag"]
    failure = await refused(bob, [{**first, "franking_tag": on_laptop["franking_tag"]}])
    assert (failure.status, failure.problem_type) == (422, "tag-mismatch")
    failure = await refused(bob, [carols])
    assert (failure.status, failure.problem_type) == (422, "tag-mismatch")
    # Moved out of its group: as a one-to-one message, or into another group.
    failure = await refused(bob, [{k: v for k, v in first.items() if k != "group_id"}])
    assert (failure.status, failure.problem_type) == (422, "tag-mismatch")
    failure = await refused(bob, [{**first, "group_id": b64(secrets.token_bytes(32))}])
    assert (failure.status, failure.problem_type) == (422, "tag-mismatch")
    # A group message never carries a sender certificate; an empty group id is malformed.
    failure = await refused(bob, [{**first, "sender": None, "sender_certificate": b64(b"x")}])
    assert (failure.status, failure.problem_type) == (422, "malformed")
    failure = await refused(bob, [{**first, "group_id": ""}])
    assert (failure.status, failure.problem_type) == (400, "malformed-body")
    # None of these stored anything; the genuine reports still verify, once each.
    filed = await bob.report([ids["first threat"], ids["second threat"]], "threats")
    assert filed.reported == alice.address
    assert len(report_rows(relay, filed.report_id)) == 2
    filed_by_carol = await carol.report([ids["first threat"]], "threats")
    assert filed_by_carol.report_id > filed.report_id
    failure = await refused(carol, [carols])
    assert (failure.status, failure.problem_type) == (409, "already-reported")


async def test_a_member_drops_a_group_message_whose_commitment_does_not_open(
    make_client: MakeClient,
) -> None:
    alice, bob = await make_client("alice"), await make_client("bob", "photos")
    group_id = await group_of(alice, bob)
    tamper = Tamper(alice)
    # The commitment beside the ciphertext is to other content: bob drops the message.
    other = FrankedPlaintext.new(b"something harmless").commitment()
    tamper.change = lambda body: {**body, "commitment": b64(other)}
    await said(alice, group_id, "what bob would have seen")
    # Without a commitment at all: dropped as well.
    tamper.change = lambda body: {k: v for k, v in body.items() if k != "commitment"}
    await said(alice, group_id, "unfranked")
    assert [m.text for m in await bob.fetch()] == []
    assert [m.text for m in bob.groups.history(bob.groups.all()[0].name)] == []
    # The group still works for honest messages afterwards.
    tamper.change = None
    await said(alice, group_id, "honest again")
    assert [m.text for m in await bob.fetch()] == ["honest again"]


async def test_the_server_refuses_malformed_group_commitments(make_client: MakeClient) -> None:
    alice, bob = await make_client("alice"), await make_client("bob", "photos")
    group_id = await group_of(alice, bob)
    Tamper(alice).change = lambda body: {**body, "commitment": b64(b"short")}
    with pytest.raises(ServerError) as failure:
        await said(alice, group_id, "x")
    assert (failure.value.status, failure.value.problem_type) == (400, "bad-commitment")


def test_group_and_one_to_one_tags_never_coincide() -> None:
    key, commitment = secrets.token_bytes(32), secrets.token_bytes(32)
    delivery = Delivery("b@photos", 1, 1000, "a@chat", 1, "m1")
    in_group = Delivery("b@photos", 1, 1000, "a@chat", 1, "m1", group_id=b"g" * 32)
    other_group = Delivery("b@photos", 1, 1000, "a@chat", 1, "m1", group_id=b"h" * 32)
    tags = {delivery_tag(key, commitment, d) for d in (delivery, in_group, other_group)}
    assert len(tags) == 3


def test_report_a_group_message_from_the_command_line(relay: LiveServer, tmp_path: Path) -> None:
    sender, victim = f"s-{secrets.token_hex(3)}", f"v-{secrets.token_hex(3)}"
    for handle, app_name in ((sender, "chat"), (victim, "photos")):
        create_account(tmp_path / handle, relay.url, app_name, handle)
    assert sv(tmp_path / sender, "group", "create", "club")[0] == 0
    assert sv(tmp_path / sender, "group", "add", "club", f"{victim}@photos")[0] == 0
    assert sv(tmp_path / sender, "group", "send", "club", "leave or else")[0] == 0
    code, out, _ = sv(tmp_path / victim, "inbox")
    # A stranger's group is a message request: its messages wait until joined.
    assert code == 0 and "message request" in out and "leave or else" not in out
    assert sv(tmp_path / victim, "requests", "join", "club")[0] == 0
    code, out, err = sv(tmp_path / victim, "group", "history", "club", "--json")
    assert code == 0, err
    (received,) = [json.loads(line) for line in out.splitlines()]
    assert (received["from"], received["text"]) == (f"{sender}@chat", "leave or else")
    message_id = received["id"]
    code, out, err = sv(tmp_path / victim, "report", message_id, "--reason", "a threat in a group")
    assert code == 0, err
    assert f"filed about {sender}@chat" in out and "signed the send" in out
    code, _, err = sv(tmp_path / victim, "report", message_id, "--reason", "again")
    assert code == 1 and "already reported" in err
    # The operator sees the revealed text as the member saw it, and in which group.
    result = runner.invoke(
        app,
        [
            "moderation",
            "reports",
            "--account",
            f"{sender}@chat",
            "--db",
            server_db.server_url(relay),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "a threat in a group" in result.stdout
    assert "in group " in result.stdout and "leave or else" in result.stdout
