"""The gossip field of a message's content and the evidence an alert keeps, offline."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest

from sottovoce.client import server_json as sj
from sottovoce.client.alerts import Alerts
from sottovoce.client.content import TextContent, decode_content, decode_payload
from sottovoce.client.head_gossip import (
    GOSSIP,
    HEAD_FIELD_CHARS,
    HeadGossip,
    MalformedGossip,
    decode_head_field,
    encode_head_field,
)
from sottovoce.client.store import Store
from sottovoce.client.transparency import LogMonitor
from sottovoce.client.transport import Transport
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.tree_head import SIGNED_TREE_HEAD_LEN, TreeHead
from sottovoce.server.process import free_port

LOG_KEY = SigningKey.generate()


def a_head(epoch: int = 3) -> bytes:
    return TreeHead(epoch, 1_700_000_000_000, 12, bytes(range(32))).sign(LOG_KEY).to_bytes()


def test_a_head_rides_in_the_content_and_costs_177_bytes() -> None:
    plain = TextContent("m1", "hello", 1)
    gossiping = TextContent("m1", "hello", 1, tree_head=a_head())
    assert decode_content(gossiping.encode()).tree_head == a_head()
    assert len(gossiping.encode()) - len(plain.encode()) == len(',"sth":""') + HEAD_FIELD_CHARS
    assert len(',"sth":""') + HEAD_FIELD_CHARS == 177
    assert HEAD_FIELD_CHARS == 4 * ((SIGNED_TREE_HEAD_LEN + 2) // 3)


def test_content_without_a_head_parses_as_before() -> None:
    old = json.dumps({"v": 1, "kind": "text", "id": "m2", "text": "hi", "sent_at": 5}).encode()
    content = decode_payload(old)
    assert isinstance(content, TextContent)
    assert (content.text, content.tree_head) == ("hi", None)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "not a string"),
        (12, "not a string"),
        ("", "0 characters"),
        ("A" * (HEAD_FIELD_CHARS + 4), f"{HEAD_FIELD_CHARS + 4} characters"),
        ("A" * 50_000, "50000 characters"),
        ("!" * HEAD_FIELD_CHARS, "not standard base64"),
    ],
)
def test_a_malformed_head_field_is_a_typed_error_naming_the_fault(
    value: object, problem: str
) -> None:
    with pytest.raises(MalformedGossip, match=problem):
        decode_head_field(value)


def test_a_head_field_round_trips() -> None:
    assert decode_head_field(encode_head_field(a_head())) == a_head()


def test_a_malformed_head_costs_the_message_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    payload = {"v": 1, "kind": "text", "id": "m3", "text": "still here", "sent_at": 5}
    for bad in (7, "AAAA", base64.b64encode(b"x" * 500).decode()):
        content = decode_content(json.dumps({**payload, "sth": bad}).encode())
        assert (content.text, content.tree_head) == ("still here", None)
    assert len([r for r in caplog.records if "gossiped tree head" in r.getMessage()]) == 3
    assert "still here" not in caplog.text


def test_an_alert_keeps_its_evidence(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "profile")
    alerts = Alerts(store)
    alerts.record("log-fork", "bob@photos", "two logs", (a_head(3), a_head(4)))
    alerts.record("replay", "carol@chat", "old list")
    by_kind = {a.kind: a for a in alerts.unseen()}
    assert by_kind["log-fork"].evidence == (a_head(3), a_head(4))
    assert by_kind["replay"].evidence == ()
    alerts.dismiss(alerts.unseen())
    assert alerts.unseen() == []
    alerts.record("log-fork", "bob@photos", "the same two logs again", (a_head(4), a_head(3)))
    [kept] = alerts.with_evidence()  # dismissed, and one record per set of heads
    assert (kept.detail, kept.evidence) == ("two logs", (a_head(3), a_head(4)))
    store.close()


async def test_heads_wait_while_the_server_is_unreachable(tmp_path: Path) -> None:
    """A head that would make the device catch up, with no server to catch up from,
    is kept for the next check (and across a restart), not dropped."""
    store = Store.create(tmp_path / "profile")
    transport = Transport(f"http://127.0.0.1:{free_port()}", "alice@chat", 1, SigningKey.generate())
    monitor = LogMonitor(store, transport, Alerts(store), SigningKey.generate().public)
    monitor.adopt({"log_key": base64.b64encode(LOG_KEY.public).decode(), "latest": {}})
    gossip = HeadGossip(store, monitor)
    gossip.heard("bob@photos", a_head(3))
    await gossip.check_heard()
    await HeadGossip(store, monitor).check_heard()  # a restarted device tries again
    record = store.get_json(GOSSIP, "heard")
    assert record is not None and len(sj.as_list(record["heard"], "heard")) == 1
    await transport.close()
    store.close()
