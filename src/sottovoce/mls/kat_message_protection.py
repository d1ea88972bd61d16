"""Known answers for message protection: message-protection.json (RFC 9420 §6).

Each case carries a Proposal, a Commit and application data with their protected
forms. The messages decode as :mod:`sottovoce.mls.wire` structures; the body they
carry must re-encode to the raw value the vector gives (the "produces the raw
proposal / commit" check). Signatures, membership tags, sender data and content
encryption are those of :mod:`sottovoce.mls.framing`. As the vectors ask, member 1
of a two-member secret tree is the sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sottovoce.mls import framing
from sottovoce.mls.ciphersuite import CipherSuite, cipher_suite
from sottovoce.mls.errors import KatMismatch, MLSError
from sottovoce.mls.framing import EncryptedContent, PrivateHeader
from sottovoce.mls.secret_tree import SecretTree
from sottovoce.mls.wire.commit import Commit
from sottovoce.mls.wire.framing import (
    Content,
    FramedContent,
    FramedContentAuthData,
    PrivateMessage,
    PrivateMessageContent,
    PublicMessage,
    Sender,
    framed_content_tbs,
)
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.message import MLSMessage
from sottovoce.mls.wire.proposals import Proposal
from sottovoce.mls.wire.registry import ContentType, WireFormat

FILE = "message-protection.json"

_SENDER_LEAF = 1
_LEAF_COUNT = 2


@dataclass(frozen=True)
class _Group:
    suite: CipherSuite
    context: GroupContext
    group_context: bytes
    signature_priv: bytes
    signature_pub: bytes
    encryption_secret: bytes
    sender_data_secret: bytes
    membership_key: bytes


def _group(case: Mapping[str, Any]) -> _Group:
    suite = cipher_suite(int(case["cipher_suite"]))
    context = GroupContext(
        suite.id,
        bytes.fromhex(case["group_id"]),
        int(case["epoch"]),
        bytes.fromhex(case["tree_hash"]),
        bytes.fromhex(case["confirmed_transcript_hash"]),
    )
    return _Group(
        suite,
        context,
        bytes(context),
        bytes.fromhex(case["signature_priv"]),
        bytes.fromhex(case["signature_pub"]),
        bytes.fromhex(case["encryption_secret"]),
        bytes.fromhex(case["sender_data_secret"]),
        bytes.fromhex(case["membership_key"]),
    )


def _content(content_type: ContentType, raw: bytes) -> Content:
    if content_type is ContentType.PROPOSAL:
        return Proposal.from_bytes(raw)
    if content_type is ContentType.COMMIT:
        return Commit.from_bytes(raw)
    return raw


def _expect_body(content: Content, content_type: ContentType, raw: bytes) -> None:
    body = content if isinstance(content, bytes) else bytes(content)
    if content != _content(content_type, raw) or body != raw:
        raise KatMismatch(f"message-protection: {content_type.name} content differs")


def _framed(group: _Group, ad: bytes, content: Content) -> FramedContent:
    context = group.context
    return FramedContent(context.group_id, context.epoch, Sender.member(_SENDER_LEAF), ad, content)


def _unprotect_public(
    group: _Group, message: bytes, content_type: ContentType, raw: bytes
) -> bytes:
    """§6.2: verify a PublicMessage's membership tag and signature; return its tag."""
    body = MLSMessage.from_bytes(message).body
    if not isinstance(body, PublicMessage) or body.membership_tag is None:
        raise KatMismatch("message-protection: expected a PublicMessage from a member")
    content = body.content
    if content.sender != Sender.member(_SENDER_LEAF) or content.content_type is not content_type:
        raise KatMismatch("message-protection: PublicMessage sender or content type")
    _expect_body(content.content, content_type, raw)
    if content != _framed(group, content.authenticated_data, content.content):
        raise KatMismatch("message-protection: PublicMessage group or epoch")
    tbs = framed_content_tbs(WireFormat.PUBLIC_MESSAGE, content, group.group_context)
    suite = group.suite
    framing.verify_membership_tag(suite, group.membership_key, tbs, body.auth, body.membership_tag)
    framing.verify_content(suite, group.signature_pub, tbs, body.auth.signature)
    return body.auth.confirmation_tag or b""


def _sign(group: _Group, wire_format: WireFormat, content: FramedContent) -> tuple[bytes, bytes]:
    tbs = framed_content_tbs(wire_format, content, group.group_context)
    suite = group.suite
    return tbs, framing.sign_content(suite, suite.signature_key(group.signature_priv), tbs)


def _protect_public(
    group: _Group, content_type: ContentType, raw: bytes, confirmation_tag: bytes | None
) -> bytes:
    framing.check_wire_format(WireFormat.PUBLIC_MESSAGE, content_type)
    content = _framed(group, b"", _content(content_type, raw))
    tbs, signature = _sign(group, WireFormat.PUBLIC_MESSAGE, content)
    auth = FramedContentAuthData(signature, confirmation_tag)
    tag = framing.membership_tag(group.suite, group.membership_key, tbs, auth)
    return bytes(MLSMessage(PublicMessage(content, auth, tag)))


def _unprotect_private(
    group: _Group, tree: SecretTree, message: bytes, content_type: ContentType, raw: bytes
) -> None:
    """§6.3: open a PrivateMessage (its padding checked on decoding), verify the signature."""
    body = MLSMessage.from_bytes(message).body
    if not isinstance(body, PrivateMessage) or body.content_type is not content_type:
        raise KatMismatch("message-protection: expected a PrivateMessage of this content type")
    if (body.group_id, body.epoch) != (group.context.group_id, group.context.epoch):
        raise KatMismatch("message-protection: PrivateMessage group or epoch")
    suite = group.suite
    header = PrivateHeader.of(body)
    encrypted = EncryptedContent.of(body)
    sender = framing.decrypt_sender_data(suite, group.sender_data_secret, header, encrypted)
    if sender.leaf_index != _SENDER_LEAF:
        raise KatMismatch("message-protection: PrivateMessage sender leaf")
    plaintext = framing.decrypt_content(suite, tree, sender, header, encrypted.ciphertext)
    private = PrivateMessageContent.from_bytes(plaintext, content_type)
    _expect_body(private.content, content_type, raw)
    tbs = framed_content_tbs(
        WireFormat.PRIVATE_MESSAGE,
        _framed(group, body.authenticated_data, private.content),
        group.group_context,
    )
    framing.verify_content(suite, group.signature_pub, tbs, private.auth.signature)


def _protect_private(
    group: _Group, tree: SecretTree, content_type: ContentType, raw: bytes, tag: bytes | None
) -> bytes:
    content = _framed(group, b"", _content(content_type, raw))
    _, signature = _sign(group, WireFormat.PRIVATE_MESSAGE, content)
    private = PrivateMessageContent(content.content, FramedContentAuthData(signature, tag))
    context = group.context
    header = PrivateHeader(context.group_id, context.epoch, content_type, b"")
    encrypted = framing.encrypt_content(
        group.suite,
        tree,
        group.sender_data_secret,
        leaf_index=_SENDER_LEAF,
        header=header,
        plaintext=framing.padded(bytes(private)),
    )
    message = PrivateMessage(
        context.group_id,
        context.epoch,
        content_type,
        b"",
        encrypted.encrypted_sender_data,
        encrypted.ciphertext,
    )
    return bytes(MLSMessage(message))


def _check_kind(group: _Group, case: Mapping[str, Any], name: str, kind: ContentType) -> None:
    raw = bytes.fromhex(case[name])
    tag: bytes | None = None
    if kind is ContentType.APPLICATION:
        try:
            _protect_public(group, kind, raw, None)
        except MLSError:
            pass
        else:
            raise KatMismatch("message-protection: application data protected as PublicMessage")
    else:
        received_tag = _unprotect_public(group, bytes.fromhex(case[f"{name}_pub"]), kind, raw)
        tag = received_tag if kind is ContentType.COMMIT else None
        _unprotect_public(group, _protect_public(group, kind, raw, tag), kind, raw)

    def fresh_tree() -> SecretTree:
        return SecretTree(group.suite, group.encryption_secret, _LEAF_COUNT)

    _unprotect_private(group, fresh_tree(), bytes.fromhex(case[f"{name}_priv"]), kind, raw)
    protected = _protect_private(group, fresh_tree(), kind, raw, tag)
    _unprotect_private(group, fresh_tree(), protected, kind, raw)


def check(case: Mapping[str, Any]) -> None:
    group = _group(case)
    _check_kind(group, case, "proposal", ContentType.PROPOSAL)
    _check_kind(group, case, "commit", ContentType.COMMIT)
    _check_kind(group, case, "application", ContentType.APPLICATION)
