"""RFC 9420 wire structures: byte-exact round trips, and only DecodeError on bad bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.mls.errors import DecodeError
from sottovoce.mls.wire.base import Struct
from sottovoce.mls.wire.commit import Commit
from sottovoce.mls.wire.credentials import Credential
from sottovoce.mls.wire.extensions import Extension
from sottovoce.mls.wire.framing import (
    FramedContentAuthData,
    PrivateMessageContent,
)
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.leaf_node import Capabilities
from sottovoce.mls.wire.message import MLSMessage
from sottovoce.mls.wire.proposals import Proposal, Remove
from sottovoce.mls.wire.registry import ContentType, WireFormat
from sottovoce.mls.wire.tree import ParentNode, RatchetTreeNodes
from sottovoce.mls.wire.welcome import GroupSecrets, Welcome

from ..fuzz.fuzz_mls_wire import every_structure
from . import wire_strategies as ws

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "mls-test-vectors"

ROUND_TRIPS: list[tuple[str, st.SearchStrategy[Any]]] = [
    ("credential", ws.credentials),
    ("capabilities", ws.capabilities),
    ("lifetime", ws.lifetimes),
    ("leaf_node", ws.leaf_nodes()),
    ("key_package", ws.key_packages),
    ("node", ws.nodes),
    ("psk_id", ws.psk_ids),
    ("proposal", ws.proposals),
    ("update_path", ws.update_paths),
    ("commit", ws.commits),
    ("group_context", ws.group_contexts),
    ("group_info", ws.group_infos),
    ("group_secrets", ws.group_secrets),
    ("welcome", ws.welcomes),
    ("public_message", ws.public_messages()),
    ("private_message", ws.private_messages),
    ("sender_data", ws.sender_data),
    ("mls_message", ws.mls_messages),
]


DECODERS = every_structure()


def test_the_walk_finds_every_structure() -> None:
    names = {kind.__name__ for kind in DECODERS}
    assert {"MLSMessage", "LeafNode", "GroupSecrets", "Sender", "ExternalSender"} <= names
    assert len(DECODERS) >= 40


@pytest.mark.parametrize(("name", "strategy"), ROUND_TRIPS, ids=[name for name, _ in ROUND_TRIPS])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_structure_round_trips(
    name: str, strategy: st.SearchStrategy[Any], data: Any
) -> None:
    value = data.draw(strategy)
    encoded = bytes(value)
    decoded = type(value).from_bytes(encoded)
    assert decoded == value
    assert bytes(decoded) == encoded


def assert_decodes_canonically_or_refuses(kind: type[Struct], data: bytes) -> None:
    """The fuzzing property: a decoder returns a value that re-encodes to exactly the
    input, or raises DecodeError; nothing else."""
    try:
        value = kind.from_bytes(data)
    except DecodeError:
        return
    assert bytes(value) == data


@pytest.mark.parametrize("kind", DECODERS, ids=lambda k: k.__name__)
@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=80))
def test_arbitrary_bytes_decode_or_raise_decode_error(kind: type[Struct], data: bytes) -> None:
    assert_decodes_canonically_or_refuses(kind, data)


def vector_messages() -> list[bytes]:
    cases: list[dict[str, str]] = json.loads((VECTORS / "messages.json").read_text())
    fields = ("mls_welcome", "mls_group_info", "mls_key_package", "public_message_commit")
    return [bytes.fromhex(cases[i][field]) for i in range(0, len(cases), 25) for field in fields]


@settings(max_examples=300, deadline=None)
@given(
    message=st.sampled_from(vector_messages()),
    position=st.integers(0, 10_000),
    mutation=st.sampled_from(["flip", "truncate", "insert", "delete"]),
    byte=st.integers(0, 255),
)
def test_mutated_official_messages_decode_or_raise_decode_error(
    message: bytes, position: int, mutation: str, byte: int
) -> None:
    at = position % len(message)
    if mutation == "flip":
        mutated = message[:at] + bytes([message[at] ^ (byte or 1)]) + message[at + 1 :]
    elif mutation == "truncate":
        mutated = message[:at]
    elif mutation == "insert":
        mutated = message[:at] + bytes([byte]) + message[at:]
    else:
        mutated = message[:at] + message[at + 1 :]
    assert_decodes_canonically_or_refuses(MLSMessage, mutated)


@pytest.mark.parametrize(
    ("kind", "encoded", "message"),
    [
        (MLSMessage, "0002", "MLSMessage.version: 2 is not mls10"),
        (MLSMessage, "00010009", "unknown WireFormat 9"),
        (Remove, "00000001ff", "Remove: 1 trailing bytes"),
        (Proposal, "0008", "unknown ProposalType 8"),
        (Credential, "0003", "unknown CredentialType 3"),
        (Capabilities, "01ff", "odd length 1 for a vector of uint16"),
        (ParentNode, "000003000000", "not a multiple of 4"),
        (GroupSecrets, "0002", "optional presence byte is 2"),
        (GroupContext, "00010001000000000000000000", "GroupContext.tree_hash"),
        (RatchetTreeNodes, "00", "ratchet_tree: no nodes"),
        (RatchetTreeNodes, "0100", "trailing blank node"),
        (RatchetTreeNodes, "050102000000", "a parent node at index 0"),
        (Commit, "4001", "varint not minimally encoded"),
        (Commit, "c0", "8-byte varint prefix"),
    ],
)
def test_malformed_input_names_what_is_wrong(
    kind: type[Struct], encoded: str, message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        kind.from_bytes(bytes.fromhex(encoded))


def test_duplicate_extension_types_are_refused() -> None:
    twice = GroupContext(1, b"g", 0, b"", b"", (Extension(7, b""), Extension(7, b"x")))
    with pytest.raises(DecodeError, match="extension type appears more than once"):
        GroupContext.from_bytes(bytes(twice))


def test_auth_data_and_private_content_follow_the_content_type() -> None:
    auth = FramedContentAuthData(b"sig", b"tag")
    content = PrivateMessageContent(Commit(), auth, padding=3)
    encoded = bytes(content)
    assert encoded == bytes(Commit()) + bytes(auth) + bytes(3)
    assert PrivateMessageContent.from_bytes(encoded, ContentType.COMMIT) == content
    # Read as a proposal, the same bytes are not a valid PrivateMessageContent.
    with pytest.raises(DecodeError):
        PrivateMessageContent.from_bytes(encoded, ContentType.PROPOSAL)


def test_message_wire_format_follows_the_body() -> None:
    welcome = MLSMessage(Welcome(1, (), b"info"))
    assert welcome.wire_format is WireFormat.WELCOME
    assert bytes(welcome)[:4] == bytes.fromhex("00010003")
