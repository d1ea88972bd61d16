"""A group "delete for me" made on one device removes the downloaded attachment
files on the account's other devices too, not just the history rows: the laptop
keeps no ciphertext (and so no file key's worth of content) of a message its
owner deleted on the phone. Bob, who deleted nothing, keeps his. Real server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from sottovoce.client import Client
from sottovoce.client.attachments import AttachmentPointer
from sottovoce.client.groups import GroupMessage
from tests.deletion.conftest import GROUP

Trio = tuple[Client, Client, Client]


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_a_synced_group_delete_for_me_removes_the_downloaded_files(
    alice_on_two_devices: Trio,
) -> None:
    alice, laptop, bob = alice_on_two_devices
    photo = await bob.upload_attachment(_one(b"bob's photo"), 11, "photo.png", "image/png")
    await bob.groups.send(GROUP, "a photo", attachment=photo)
    notes = await alice.upload_attachment(_one(b"alice's notes"), 13, "notes.txt", "text/plain")
    await alice.groups.send(GROUP, "my notes", attachment=notes)
    kept = await bob.upload_attachment(_one(b"the map"), 7, "map.png", "image/png")
    await bob.groups.send(GROUP, "the map", attachment=kept)
    for device in (alice, laptop, bob):
        await device.fetch()

    def entry(client: Client, text: str) -> GroupMessage:
        return next(m for m in client.groups.history(GROUP) if m.text == text)

    def pointer(client: Client, text: str) -> AttachmentPointer:
        attachment = entry(client, text).attachment
        assert attachment is not None
        return attachment

    files: dict[str, Path] = {}
    for text in ("a photo", "my notes", "the map"):
        files[text] = await laptop.download_attachment(pointer(laptop, text))
        assert files[text].exists()
    bobs_notes = await bob.download_attachment(pointer(bob, "my notes"))

    for text in ("a photo", "my notes"):
        await alice.groups.delete_for_me(GROUP, entry(alice, text).message_id)
    assert await laptop.fetch() == []

    assert [m.text for m in laptop.groups.history(GROUP)] == ["the map"]
    assert not files["a photo"].exists()
    assert not files["my notes"].exists()
    assert files["the map"].exists()  # not deleted: its file stays
    assert bobs_notes.exists()  # a delete for me never reaches the others
