"""Known answers for the wire codec: messages.json (RFC 9420 §6-§12).

Every field of a case is one encoded structure; each must decode, as the type the
field names, and encode back to the very same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sottovoce.mls.errors import KatMismatch
from sottovoce.mls.wire.base import Struct
from sottovoce.mls.wire.commit import Commit
from sottovoce.mls.wire.message import MLSMessage
from sottovoce.mls.wire.proposals import (
    Add,
    ExternalInit,
    GroupContextExtensions,
    PreSharedKey,
    ReInit,
    Remove,
    Update,
)
from sottovoce.mls.wire.registry import WireFormat
from sottovoce.mls.wire.tree import RatchetTreeNodes
from sottovoce.mls.wire.welcome import GroupSecrets

FILE = "messages.json"

_STRUCTS: dict[str, type[Struct]] = {
    "ratchet_tree": RatchetTreeNodes,
    "group_secrets": GroupSecrets,
    "add_proposal": Add,
    "update_proposal": Update,
    "remove_proposal": Remove,
    "pre_shared_key_proposal": PreSharedKey,
    "re_init_proposal": ReInit,
    "external_init_proposal": ExternalInit,
    "group_context_extensions_proposal": GroupContextExtensions,
    "commit": Commit,
}

_MESSAGES: dict[str, WireFormat] = {
    "mls_welcome": WireFormat.WELCOME,
    "mls_group_info": WireFormat.GROUP_INFO,
    "mls_key_package": WireFormat.KEY_PACKAGE,
    "public_message_application": WireFormat.PUBLIC_MESSAGE,
    "public_message_proposal": WireFormat.PUBLIC_MESSAGE,
    "public_message_commit": WireFormat.PUBLIC_MESSAGE,
    "private_message": WireFormat.PRIVATE_MESSAGE,
}


def check(case: Mapping[str, Any]) -> None:
    unknown = set(case) - set(_STRUCTS) - set(_MESSAGES)
    if unknown:
        raise KatMismatch(f"messages: fields no structure is known for: {sorted(unknown)}")
    for name, struct in _STRUCTS.items():
        encoded = bytes.fromhex(case[name])
        if bytes(struct.from_bytes(encoded)) != encoded:
            raise KatMismatch(f"messages: {name} does not re-encode byte for byte")
    for name, wire_format in _MESSAGES.items():
        encoded = bytes.fromhex(case[name])
        message = MLSMessage.from_bytes(encoded)
        if message.wire_format is not wire_format:
            raise KatMismatch(f"messages: {name} is a {message.wire_format.name}")
        if bytes(message) != encoded:
            raise KatMismatch(f"messages: {name} does not re-encode byte for byte")
