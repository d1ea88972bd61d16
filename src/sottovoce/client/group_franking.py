"""Franking of group (MLS) messages on the device (docs/safety.md, "Group messages").

The MLS application data of every group message is a franked plaintext
(``protocol.franking``: a fresh franking key ``Kf`` and the group content), and the
commitment ``C`` to the content under ``Kf`` is posted beside the PrivateMessage.
The server tags ``C`` for each member device, binding it to that device, the
arrival time, the sending device, the message id and the group. A receiving device
accepts the message only if ``C`` opens to exactly the content MLS decrypted, and
keeps the evidence so that ``Client.report`` (``sottovoce report``) can reveal it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sottovoce.client import server_json as sj
from sottovoce.client.errors import MalformedResponse, SecurityError
from sottovoce.client.franking import Franked, FrankingEvidence
from sottovoce.client.store import Store
from sottovoce.protocol.errors import DecodeError
from sottovoce.protocol.franking import FrankedPlaintext
from sottovoce.protocol.public.franking import COMMITMENT_LEN, TAG_LEN, FrankingMismatch

_WHERE = "envelope"


@dataclass(frozen=True, slots=True)
class GroupFranking:
    """What the server delivered outside the encryption of one group message."""

    server_ts: int
    commitment: bytes | None
    tag: bytes | None


# A handshake message (commit, proposal, Welcome) is delivered without franking.
NO_FRANKING = GroupFranking(0, None, None)


@dataclass(frozen=True, slots=True)
class FrankedGroupMessage:
    """The application data to protect with MLS and the commitment to post beside it."""

    application_data: bytes = field(repr=False)
    commitment: bytes


def frank_group_content(content: bytes) -> FrankedGroupMessage:
    """Wrap encoded group content with a fresh franking key (one per message)."""
    plaintext = FrankedPlaintext.new(content)
    return FrankedGroupMessage(plaintext.to_bytes(), plaintext.commitment())


def parse_group_franking(obj: dict[str, Any]) -> GroupFranking:
    """The franking fields of a delivered group envelope; absent ones are ``None``
    (handshake messages carry none; an application message without them is dropped)."""
    commitment = None if obj.get("commitment") is None else sj.binary(obj, "commitment", _WHERE)
    tag = None if obj.get("franking_tag") is None else sj.binary(obj, "franking_tag", _WHERE)
    if (commitment is not None and len(commitment) != COMMITMENT_LEN) or (
        tag is not None and len(tag) != TAG_LEN
    ):
        raise MalformedResponse("envelope.commitment or franking_tag is not 32 bytes")
    server_ts = obj.get("server_ts", 0)
    if not isinstance(server_ts, int) or isinstance(server_ts, bool) or server_ts < 0:
        raise MalformedResponse("envelope.server_ts is not a non-negative integer")
    return GroupFranking(server_ts, commitment, tag)


def open_group_franked(sender: str, franking: GroupFranking, data: bytes) -> Franked:
    """The franked plaintext MLS decrypted, with its commitment and tag, if the
    commitment opens to its content; else :class:`SecurityError`, and the message
    is dropped."""
    try:
        plaintext = FrankedPlaintext.from_bytes(data)
    except DecodeError as exc:
        raise SecurityError(f"a group message from {sender} is not franked: {exc}") from exc
    if plaintext.profile_key is not None:
        raise SecurityError(f"a group message from {sender} carries a profile key")
    if franking.commitment is None or franking.tag is None:
        raise SecurityError(f"a group message from {sender} came without its franking")
    try:
        plaintext.check(franking.commitment)
    except FrankingMismatch as exc:
        raise SecurityError(
            f"a group message from {sender} does not match its franking commitment"
        ) from exc
    return Franked(plaintext, franking.commitment, franking.tag)


def keep_group_evidence(
    store: Store,
    own_device: int,
    content_id: str,
    *,
    group_id: bytes,
    message_id: str,
    sender: str,
    sender_device: int,
    server_ts: int,
    franked: Franked,
) -> None:
    """Keep what a report of this group message needs (inside the caller's transaction),
    under the id its history shows, so ``sottovoce report`` takes it like any other."""
    FrankingEvidence(store, own_device).keep_revealed(
        content_id,
        # Evidence of one-to-one messages is forgotten with their sender's request;
        # a group message's belongs to the group, so it is filed under the group.
        f"group:{group_id.hex()}",
        {
            "message_id": message_id,
            "sender": sender,
            "sender_device": sender_device,
            "recipient_device": own_device,
            "server_ts": server_ts,
            "content": sj.b64(franked.content),
            "franking_key": sj.b64(franked.plaintext.franking_key),
            "commitment": sj.b64(franked.commitment),
            "franking_tag": sj.b64(franked.tag),
            "sender_certificate": None,
            "group_id": sj.b64(group_id),
        },
    )
