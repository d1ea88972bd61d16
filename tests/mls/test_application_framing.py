"""``protection.protect_application`` builds an application message from pre-encoded
epoch fields; it must give exactly the bytes of the general path (FramedContent,
FramedContentTBS, PrivateMessageContent, PrivateMessage, MLSMessage) and open
through the general decoder."""

from __future__ import annotations

import pytest

from sottovoce.crypto import signing
from sottovoce.mls import framing
from sottovoce.mls.group import ApplicationMessage, Group, protection
from sottovoce.mls.group.group import PADDING_BLOCK
from sottovoce.mls.wire.framing import Sender
from sottovoce.mls.wire.message import MLSMessage
from sottovoce.mls.wire.registry import WireFormat
from tests.mls.group_support import SUITES, identity, key_package

GUARD = b"\x0a\x0b\x0c\x0d"


def two_members(suite: int) -> tuple[Group, Group]:
    alice = Group.create(suite, b"framing-group", identity(0), signing.SigningKey.generate())
    bob_package = key_package(1, suite)
    bundle = alice.commit(add=[bob_package.key_package])
    alice.merge_pending_commit()
    assert bundle.welcome is not None
    return alice, Group.join(bundle.welcome, bob_package)


def general_path(group: Group, data: bytes, authenticated_data: bytes) -> bytes:
    """framed -> sign -> to_private -> MLSMessage, the structures' own encoders."""
    epoch = group._epoch
    keys = epoch.keys()
    content = protection.framed(keys, Sender.member(epoch.own_leaf), data, authenticated_data)
    signed = protection.sign(keys, group._signer, WireFormat.PRIVATE_MESSAGE, content)
    return bytes(MLSMessage(protection.to_private(keys, signed, PADDING_BLOCK)))


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize(
    ("data", "authenticated_data"),
    [(b"", b""), (b"m" * 100, b""), (b"x" * 300, b"ad"), (b"y" * 20_000, b"z" * 70)],
)
def test_application_message_is_byte_identical_to_the_general_path(
    suite: int, data: bytes, authenticated_data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = two_members(suite)
    twin = Group.from_bytes(alice.to_bytes())
    # The reuse guard is the only random input (Ed25519 signatures are deterministic).
    monkeypatch.setattr(framing.random, "random_bytes", lambda length: GUARD[:length])
    fast = alice.protect(data, authenticated_data)
    assert fast == general_path(twin, data, authenticated_data)
    received = bob.process(fast)
    assert isinstance(received, ApplicationMessage)
    assert (received.data, received.authenticated_data) == (data, authenticated_data)


def test_consecutive_messages_match_the_general_path(monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob = two_members(0x0001)
    twin = Group.from_bytes(alice.to_bytes())
    monkeypatch.setattr(framing.random, "random_bytes", lambda length: GUARD[:length])
    for n in range(5):
        message = f"message {n}".encode()
        fast = alice.protect(message)
        assert fast == general_path(twin, message, b"")
        received = bob.process(fast)
        assert isinstance(received, ApplicationMessage)
        assert received.data == message
