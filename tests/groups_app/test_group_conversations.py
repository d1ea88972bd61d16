"""Groups as complete as one-to-one chats, through the SDK and the real server process:
attachments, disappearing timers, per-member receipts, typing, replies, deletion and
paged history, all as MLS application messages (the server sees only ciphertext)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sottovoce.client import Client
from sottovoce.client.attachments import AttachmentPointer, decrypt_file
from sottovoce.client.content import DeleteContent, ReceiptContent
from sottovoce.client.errors import ClientError
from sottovoce.client.group_chat import RECEIPTS, history_peer
from sottovoce.crypto.password import Argon2Parameters
from tests.support.live_server import LiveServer

FAST_ARGON2 = Argon2Parameters(memory_kib=8192, iterations=1, lanes=1)
THUMBNAIL = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAP"

Trio = tuple[Client, Client, Client]


async def _bytes(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def _read(path: Path, pointer: AttachmentPointer) -> bytes:
    out = bytearray()
    async for chunk in decrypt_file(path, pointer):
        out += chunk
    return bytes(out)


@pytest.fixture
async def trio(live_server_module: LiveServer, tmp_path: Path) -> AsyncIterator[Trio]:
    """Alice, Bob and Carol on two apps, in the group ``trip`` Alice made, receipts
    and typing indicators on (as the app has them)."""
    tag = secrets.token_hex(3)
    made = []
    for name, app in (("alice", "chat"), ("bob", "photos"), ("carol", "chat")):
        client = await Client.create_account(
            tmp_path / name, live_server_module.url, app, f"{name}-{tag}", argon2=FAST_ARGON2
        )
        client.set_group_invites_from_anyone(True)  # tests/safety has the requests
        client.set_receipts(True)
        client.set_typing_indicators(True)
        made.append(client)
    alice, bob, carol = made
    await alice.groups.create("trip")
    await alice.groups.add("trip", bob.address, carol.address)
    await bob.fetch()
    await carol.fetch()
    await alice.fetch()  # the others' delivery receipts, if any
    try:
        yield alice, bob, carol
    finally:
        for client in made:
            await client.close()


async def _sync(*clients: Client) -> None:
    """Each fetches in turn, twice: messages, then the receipts they caused."""
    for _ in range(2):
        for client in clients:
            await client.fetch()


def _server_files(server: LiveServer) -> list[Path]:
    return [p for p in server.directory.rglob("*") if p.is_file()]


async def test_an_image_reaches_every_member_with_its_thumbnail(
    trio: Trio, live_server_module: LiveServer
) -> None:
    alice, bob, carol = trio
    canary = b"GROUP-CANARY-" + secrets.token_hex(12).encode()
    data = canary * 40_000  # about 1.3 MiB: several chunks and segments
    pointer = await alice.upload_attachment(
        _bytes([data[:700_000], data[700_000:]]),
        len(data),
        "sunset.png",
        "image/png",
        thumbnail=THUMBNAIL,
    )
    sent = await alice.groups.send("trip", "look at this", attachment=pointer)
    assert sent.attachment == pointer
    for member in (bob, carol):
        (received,) = [m for m in await member.fetch() if m.group == "trip"]
        (entry,) = member.groups.history("trip", 1)
        assert entry.message_id == received.message_id == sent.message_id
        assert entry.text == "look at this" and entry.sender == alice.address
        assert entry.attachment is not None
        assert entry.attachment.thumbnail == THUMBNAIL and entry.attachment.is_image
        path = await member.download_attachment(member.groups.find_attachment(sent.message_id))
        assert canary not in path.read_bytes()  # ciphertext on the device too
        assert await _read(path, entry.attachment) == data
    for file in _server_files(live_server_module):
        assert canary not in file.read_bytes(), file.name
    # A caption is optional, as in a direct chat; nothing at all is refused.
    bare = await alice.upload_attachment(_bytes([b"x"]), 1, "x.bin", "application/x-thing")
    await alice.groups.send("trip", attachment=bare)
    with pytest.raises(ClientError, match="needs some text"):
        await alice.groups.send("trip", "")


async def test_receipts_say_who_received_and_who_read(trio: Trio) -> None:
    alice, bob, carol = trio
    updates: list[str] = []
    alice.groups.on_update = updates.append
    sent = await alice.groups.send("trip", "dinner at 8?")
    assert alice.groups.message_state("trip", sent.message_id) == "sent"
    await _sync(bob, carol, alice)
    assert {(r.member, r.state) for r in alice.groups.receipts("trip", sent.message_id)} == {
        (bob.address, "delivered"),
        (carol.address, "delivered"),
    }
    assert alice.groups.message_state("trip", sent.message_id) == "delivered"
    assert "#trip" in updates

    assert bob.groups.unread("trip") == 1
    read = bob.groups.mark_read("trip")
    assert read == [sent.message_id]
    assert bob.groups.unread("trip") == 0
    assert bob.groups.mark_read("trip") == []  # once
    await bob.groups.send_read_receipt("trip", read)
    await alice.fetch()
    states = {r.member: r.state for r in alice.groups.receipts("trip", sent.message_id)}
    assert states == {bob.address: "read", carol.address: "delivered"}
    assert alice.groups.message_state("trip", sent.message_id) == "delivered"
    await carol.groups.send_read_receipt("trip", carol.groups.mark_read("trip"))
    await alice.fetch()
    assert alice.groups.message_state("trip", sent.message_id) == "read"

    # Never backwards; a receipt for a message someone else sent moves nothing.
    late = ReceiptContent("late1", "delivered", (sent.message_id,), int(time.time() * 1000))
    await carol.groups._send_payload(carol.groups.info("trip").group_id, late.encode())
    bobs = await bob.groups.send("trip", "bob's own")
    forged = ReceiptContent("forged1", "read", (bobs.message_id,), int(time.time() * 1000))
    await carol.groups._send_payload(carol.groups.info("trip").group_id, forged.encode())
    await alice.fetch()
    assert alice.groups.message_state("trip", sent.message_id) == "read"
    assert alice.groups.receipts("trip", bobs.message_id) == [
        r for r in alice.groups.receipts("trip", bobs.message_id) if r.state == "sent"
    ]


async def test_no_receipts_with_receipts_off(trio: Trio) -> None:
    alice, bob, carol = trio
    carol.set_receipts(False)
    sent = await alice.groups.send("trip", "quiet please")
    await _sync(bob, carol, alice)
    await carol.groups.send_read_receipt("trip", carol.groups.mark_read("trip"))
    await alice.fetch()
    states = {r.member: r.state for r in alice.groups.receipts("trip", sent.message_id)}
    assert states == {bob.address: "delivered", carol.address: "sent"}


async def test_a_timer_set_by_one_member_applies_on_every_device(trio: Trio) -> None:
    alice, bob, carol = trio
    await bob.groups.set_timer("trip", 300)
    await _sync(alice, carol)
    assert [c.groups.timer("trip") for c in trio] == [300, 300, 300]
    with pytest.raises(ClientError, match="disappearing timer"):
        await bob.groups.set_timer("trip", 42)

    pointer = await alice.upload_attachment(_bytes([b"secret pixels"]), 13, "a.png", "image/png")
    earlier = await alice.groups.send("trip", "also under the timer")
    vanishing = await alice.groups.send("trip", "gone in five minutes", attachment=pointer)
    assert vanishing.expires_at is not None
    await _sync(bob, carol)
    files = []
    for member in (bob, carol):
        (entry,) = [m for m in member.groups.history("trip") if m.text.startswith("gone")]
        assert entry.expires_at is not None
        files.append(
            await member.download_attachment(member.groups.find_attachment(entry.message_id))
        )
    files.append(await alice.download_attachment(pointer))
    later = int(time.time() * 1000) + 301_000
    for client in trio:
        gone = client.expire_messages(later)
        assert vanishing.message_id in {g.message_id for g in gone}
        assert all(g.peer == history_peer(client.groups.info("trip").group_id) for g in gone)
        assert client.groups.name_of(gone[0].peer) == "trip"
        texts = [m.text for m in client.groups.history("trip")]
        assert "gone in five minutes" not in texts and earlier.text not in texts
    assert not any(f.exists() for f in files)
    assert alice._store.get_json(RECEIPTS, vanishing.message_id) is None  # nothing left of it

    # Off again, by another member: later messages stay.
    await carol.groups.set_timer("trip", 0)
    await _sync(alice, bob)
    staying = await alice.groups.send("trip", "this one stays")
    assert staying.expires_at is None
    await bob.fetch()
    assert bob.expire_messages(int(time.time() * 1000) + 10**9) == []
    assert bob.groups.history("trip", 1)[0].text == "this one stays"


async def test_a_received_message_carries_the_timer_too(trio: Trio) -> None:
    """A member that missed the timer change still converges on the next message."""
    alice, bob, _ = trio
    group_id = alice.groups.info("trip").group_id
    with alice._store.transaction():
        alice.groups.chat.set_timer(group_id, 3_600)  # set here, not announced
    await alice.groups.send("trip", "with a timer")
    await bob.fetch()
    assert bob.groups.timer("trip") == 3_600


async def test_replies_typing_and_delete_for_everyone(trio: Trio) -> None:
    alice, bob, carol = trio
    typing: list[tuple[str, str, bool]] = []
    carol.groups.on_typing = lambda group, member, started: typing.append((group, member, started))
    first = await alice.groups.send("trip", "who is bringing the tent?")
    await _sync(bob, carol)
    reply = await bob.groups.send("trip", "me", reply_to=first.message_id)
    assert reply.quote is not None and reply.quote.author == alice.address
    await bob.groups.send_typing("trip", True)
    await _sync(carol, alice)
    (seen,) = [m for m in carol.groups.history("trip") if m.message_id == reply.message_id]
    assert seen.quote is not None and seen.quote.excerpt == "who is bringing the tent?"
    (mirrored,) = [m for m in alice.groups.history("trip") if m.message_id == reply.message_id]
    assert mirrored.quote == seen.quote
    assert typing == [("#trip", bob.address, True)]
    with pytest.raises(ClientError, match="no message"):
        await bob.groups.send("trip", "?", reply_to="not-there")

    # Bob cannot withdraw Alice's message, with the API or with a forged deletion.
    with pytest.raises(ClientError, match="only a message you sent"):
        await bob.groups.delete_for_everyone("trip", first.message_id)
    forged = DeleteContent("forged2", first.message_id, int(time.time() * 1000))
    await bob.groups._send_payload(bob.groups.info("trip").group_id, forged.encode())
    await _sync(carol, alice)
    for client in trio:
        assert first.message_id in [m.message_id for m in client.groups.history("trip")]

    await alice.groups.delete_for_everyone("trip", first.message_id)
    await _sync(bob, carol)
    for client in trio:
        ids = [m.message_id for m in client.groups.history("trip")]
        assert first.message_id not in ids and reply.message_id in ids
    # Delete for me: this device only.
    await carol.groups.delete_for_me("trip", reply.message_id)
    assert reply.message_id not in [m.message_id for m in carol.groups.history("trip")]
    assert reply.message_id in [m.message_id for m in bob.groups.history("trip")]


async def test_history_pages_back_to_the_first_message(trio: Trio) -> None:
    alice, bob, _ = trio
    for i in range(25):
        await alice.groups.send("trip", f"message {i}")
    await bob.fetch()
    for client in (alice, bob):
        page, cursor = client.groups.history_page("trip", 10)
        texts = [m.text for m in page]
        while cursor is not None:
            page, cursor = client.groups.history_page("trip", 10, cursor)
            texts = [m.text for m in page] + texts
        assert texts == [f"message {i}" for i in range(25)]
    with pytest.raises(ClientError, match="limit"):
        alice.groups.history_page("trip", 0)
