"""Offline: the head a group text carries, encoding a text once with or without its
head, and a head of another log told apart from a malformed one."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sottovoce.client.alerts import Alerts, SecurityAlert
from sottovoce.client.content import MAX_CONTENT_LEN, TextContent, decode_content
from sottovoce.client.errors import InvalidMessage
from sottovoce.client.group_content import GroupContent, decode_group_content
from sottovoce.client.head_gossip import (
    HEAD_FIELD_CHARS,
    ForeignLogHead,
    HeadGossip,
    MalformedGossip,
)
from sottovoce.client.store import Store
from sottovoce.client.transparency import LogMonitor
from sottovoce.client.transport import Transport
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.tree_head import TreeHead
from sottovoce.server.process import free_port

LOG_KEY = SigningKey.generate()


def a_head(epoch: int = 3, key: SigningKey = LOG_KEY) -> bytes:
    return TreeHead(epoch, 1_700_000_000_000, 12, bytes(range(32))).sign(key).to_bytes()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.create(tmp_path / "profile")
    yield opened
    opened.close()


@pytest.fixture
async def monitor(store: Store) -> AsyncIterator[LogMonitor]:
    """A device that pinned LOG_KEY and verified ``a_head(3)``; no server behind it."""
    transport = Transport(f"http://127.0.0.1:{free_port()}", "alice@chat", 1, SigningKey.generate())
    kt = LogMonitor(store, transport, Alerts(store), SigningKey.generate().public)
    kt.adopt(
        {
            "log_key": base64.b64encode(LOG_KEY.public).decode(),
            "latest": {},
            "head": base64.b64encode(a_head(3)).decode(),
        }
    )
    yield kt
    await transport.close()


def test_a_group_text_carries_a_head_and_a_name_never_does() -> None:
    text = GroupContent("text", "m1", "hello group", 5, tree_head=a_head())
    assert decode_group_content(text.encode()).tree_head == a_head()
    plain = GroupContent("text", "m1", "hello group", 5)
    assert len(text.encode()) - len(plain.encode()) == len(',"sth":""') + HEAD_FIELD_CHARS
    name = GroupContent("name", "m2", "family", 5, tree_head=a_head())
    assert b'"sth"' not in name.encode()


def test_a_malformed_head_costs_a_group_text_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    payload = {"v": 1, "kind": "text", "id": "m3", "text": "still here", "sent_at": 5, "sth": 7}
    content = decode_group_content(json.dumps(payload).encode())
    assert (content.value, content.tree_head) == ("still here", None)
    assert "ignoring a group message's gossiped tree head" in caplog.text
    assert "still here" not in caplog.text


async def test_a_text_is_encoded_once_with_its_head_or_without_it(
    store: Store, monitor: LogMonitor
) -> None:
    gossip = HeadGossip(store, monitor)
    content = TextContent("m4", "hi", 5)
    told, payload = gossip.encode("bob@photos", content)
    assert told.tree_head == a_head(3)
    assert payload == told.encode() and decode_content(payload).tree_head == a_head(3)
    gossip.sent("bob@photos", told.tree_head)
    untold, payload = gossip.encode("bob@photos", content)
    assert untold is content and payload == content.encode()  # bob holds epoch 3

    # Text that fits only without the head goes without it; text that fits not at all fails.
    room = MAX_CONTENT_LEN - (len(TextContent("m5", "x", 5).encode()) - 1)
    largest = TextContent("m5", "x" * room, 5)
    bare, payload = gossip.encode("carol@chat", largest)
    assert bare.tree_head is None and len(payload) == MAX_CONTENT_LEN
    with pytest.raises(InvalidMessage, match="at most"):
        gossip.encode("carol@chat", TextContent("m6", "x" * (room + 1), 5))


async def test_a_head_of_another_log_is_told_apart_from_a_malformed_one(
    store: Store, monitor: LogMonitor
) -> None:
    gossip = HeadGossip(store, monitor)
    with pytest.raises(MalformedGossip, match="wrong magic"):
        await gossip.check("bob@photos", b"SVTX" + a_head()[4:])
    other = a_head(3, SigningKey.generate())
    with pytest.raises(SecurityAlert) as first:
        await gossip.check("bob@photos", other)
    assert (first.value.alert.kind, first.value.alert.address) == ("foreign-log", "bob@photos")
    with pytest.raises(ForeignLogHead, match="Compare safety numbers"):
        await gossip.check("bob@photos", other)  # alerted once: now only an error
    with pytest.raises(SecurityAlert):
        await gossip.check("carol@chat", other)  # another contact: an alert of its own
    assert sorted(a.address for a in Alerts(store).unseen()) == ["bob@photos", "carol@chat"]
