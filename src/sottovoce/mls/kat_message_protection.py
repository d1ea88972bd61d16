"""Known answers for message protection: message-protection.json (RFC 9420 §6).

Each case carries a Proposal, a Commit and application data with their protected
forms. The messages are read field by field with the codec; the body of a proposal
or commit is checked byte for byte against the raw value the vector gives, which is
the "produces the raw proposal / commit" check. Signatures, membership tags, sender
data and content encryption are those of :mod:`sottovoce.mls.framing`. As the
vectors ask, member 1 of a two-member secret tree is the sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sottovoce.mls import framing
from sottovoce.mls.ciphersuite import CipherSuite, cipher_suite
from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import KatMismatch, MLSError
from sottovoce.mls.framing import ContentType, EncryptedContent, PrivateHeader, WireFormat
from sottovoce.mls.secret_tree import SecretTree

FILE = "message-protection.json"

_SENDER_LEAF = 1
_LEAF_COUNT = 2
# §6 Sender: sender_type member.
_SENDER_MEMBER = 1


@dataclass(frozen=True)
class _Group:
    suite: CipherSuite
    group_id: bytes
    epoch: int
    group_context: bytes
    signature_priv: bytes
    signature_pub: bytes
    encryption_secret: bytes
    sender_data_secret: bytes
    membership_key: bytes


def _group(case: Mapping[str, Any]) -> _Group:
    suite = cipher_suite(int(case["cipher_suite"]))
    group_id = bytes.fromhex(case["group_id"])
    epoch = int(case["epoch"])
    group_context = bytes(
        Writer()
        .uint16(framing.MLS10)
        .uint16(suite.id)
        .vector(group_id)
        .uint64(epoch)
        .vector(bytes.fromhex(case["tree_hash"]))
        .vector(bytes.fromhex(case["confirmed_transcript_hash"]))
        .vector(b"")
    )
    return _Group(
        suite,
        group_id,
        epoch,
        group_context,
        bytes.fromhex(case["signature_priv"]),
        bytes.fromhex(case["signature_pub"]),
        bytes.fromhex(case["encryption_secret"]),
        bytes.fromhex(case["sender_data_secret"]),
        bytes.fromhex(case["membership_key"]),
    )


def _body(content_type: ContentType, raw: bytes) -> bytes:
    """The FramedContent select: application data is a vector, the others are inline."""
    return bytes(Writer().vector(raw)) if content_type is ContentType.APPLICATION else raw


def _framed_content(group: _Group, content_type: ContentType, ad: bytes, raw: bytes) -> bytes:
    """§6 FramedContent from member ``_SENDER_LEAF``."""
    header = Writer().vector(group.group_id).uint64(group.epoch)
    header.uint8(_SENDER_MEMBER).uint32(_SENDER_LEAF).vector(ad).uint8(content_type)
    return bytes(header) + _body(content_type, raw)


def _read_auth(reader: Reader, content_type: ContentType) -> tuple[bytes, bytes | None]:
    signature = reader.vector("FramedContentAuthData.signature")
    tag = reader.vector("confirmation_tag") if content_type is ContentType.COMMIT else None
    return signature, tag


def _expect_body(reader: Reader, content_type: ContentType, raw: bytes) -> None:
    if reader.raw(len(_body(content_type, raw)), "content") != _body(content_type, raw):
        raise KatMismatch(f"message-protection: {content_type.name} content differs")


def _mls_message(reader: Reader, wire_format: WireFormat) -> None:
    if reader.uint16("MLSMessage.version") != framing.MLS10:
        raise KatMismatch("message-protection: MLSMessage is not mls10")
    if reader.uint16("MLSMessage.wire_format") != wire_format:
        raise KatMismatch(f"message-protection: expected a {wire_format.name}")


def _unprotect_public(
    group: _Group, message: bytes, content_type: ContentType, raw: bytes
) -> bytes:
    """§6.2: verify a PublicMessage's membership tag and signature; return its tag."""
    reader = Reader(message)
    _mls_message(reader, WireFormat.PUBLIC_MESSAGE)
    start = reader.remaining
    reader.vector("FramedContent.group_id")
    reader.uint64("FramedContent.epoch")
    if (reader.uint8("Sender.sender_type"), reader.uint32("Sender.leaf_index")) != (
        _SENDER_MEMBER,
        _SENDER_LEAF,
    ):
        raise KatMismatch("message-protection: PublicMessage sender")
    ad = reader.vector("FramedContent.authenticated_data")
    if ContentType(reader.uint8("FramedContent.content_type")) is not content_type:
        raise KatMismatch("message-protection: PublicMessage content type")
    _expect_body(reader, content_type, raw)
    framed = message[4 : 4 + start - reader.remaining]
    auth_start = reader.remaining
    signature, confirmation_tag = _read_auth(reader, content_type)
    auth = message[len(message) - auth_start : len(message) - reader.remaining]
    membership_tag = reader.vector("PublicMessage.membership_tag")
    reader.finish("PublicMessage")
    if framed != _framed_content(group, content_type, ad, raw):
        raise KatMismatch("message-protection: PublicMessage FramedContent")
    tbs = framing.framed_content_tbs(WireFormat.PUBLIC_MESSAGE, framed, group.group_context)
    suite = group.suite
    framing.verify_membership_tag(suite, group.membership_key, tbs, auth, membership_tag)
    framing.verify_content(suite, group.signature_pub, tbs, signature)
    return b"" if confirmation_tag is None else confirmation_tag


def _protect_public(
    group: _Group, content_type: ContentType, raw: bytes, confirmation_tag: bytes | None
) -> bytes:
    framing.check_wire_format(WireFormat.PUBLIC_MESSAGE, content_type)
    suite = group.suite
    framed = _framed_content(group, content_type, b"", raw)
    tbs = framing.framed_content_tbs(WireFormat.PUBLIC_MESSAGE, framed, group.group_context)
    signature = framing.sign_content(suite, suite.signature_key(group.signature_priv), tbs)
    auth = framing.encode_auth(signature, confirmation_tag)
    tag = framing.membership_tag(suite, group.membership_key, tbs, auth)
    header = Writer().uint16(framing.MLS10).uint16(WireFormat.PUBLIC_MESSAGE)
    return bytes(header) + framed + auth + bytes(Writer().vector(tag))


def _unprotect_private(
    group: _Group, tree: SecretTree, message: bytes, content_type: ContentType, raw: bytes
) -> None:
    """§6.3: open a PrivateMessage, check its padding and the sender's signature."""
    reader = Reader(message)
    _mls_message(reader, WireFormat.PRIVATE_MESSAGE)
    group_id = reader.vector("PrivateMessage.group_id")
    epoch = reader.uint64("PrivateMessage.epoch")
    if ContentType(reader.uint8("PrivateMessage.content_type")) is not content_type:
        raise KatMismatch("message-protection: PrivateMessage content type")
    ad = reader.vector("PrivateMessage.authenticated_data")
    encrypted = EncryptedContent(
        reader.vector("PrivateMessage.encrypted_sender_data"),
        reader.vector("PrivateMessage.ciphertext"),
    )
    reader.finish("PrivateMessage")
    if (group_id, epoch) != (group.group_id, group.epoch):
        raise KatMismatch("message-protection: PrivateMessage group or epoch")
    suite = group.suite
    header = PrivateHeader(group_id, epoch, content_type, ad)
    sender = framing.decrypt_sender_data(suite, group.sender_data_secret, header, encrypted)
    if sender.leaf_index != _SENDER_LEAF:
        raise KatMismatch("message-protection: PrivateMessage sender leaf")
    plaintext = framing.decrypt_content(suite, tree, sender, header, encrypted.ciphertext)
    content = Reader(plaintext)
    _expect_body(content, content_type, raw)
    signature, _ = _read_auth(content, content_type)
    framing.check_padding(content.raw(content.remaining, "padding"))
    framed = _framed_content(group, content_type, ad, raw)
    tbs = framing.framed_content_tbs(WireFormat.PRIVATE_MESSAGE, framed, group.group_context)
    framing.verify_content(suite, group.signature_pub, tbs, signature)


def _protect_private(
    group: _Group, tree: SecretTree, content_type: ContentType, raw: bytes, tag: bytes | None
) -> bytes:
    suite = group.suite
    framed = _framed_content(group, content_type, b"", raw)
    tbs = framing.framed_content_tbs(WireFormat.PRIVATE_MESSAGE, framed, group.group_context)
    signature = framing.sign_content(suite, suite.signature_key(group.signature_priv), tbs)
    plaintext = framing.padded(_body(content_type, raw) + framing.encode_auth(signature, tag))
    encrypted = framing.encrypt_content(
        suite,
        tree,
        group.sender_data_secret,
        leaf_index=_SENDER_LEAF,
        header=PrivateHeader(group.group_id, group.epoch, content_type, b""),
        plaintext=plaintext,
    )
    return bytes(
        Writer()
        .uint16(framing.MLS10)
        .uint16(WireFormat.PRIVATE_MESSAGE)
        .vector(group.group_id)
        .uint64(group.epoch)
        .uint8(content_type)
        .vector(b"")
        .vector(encrypted.encrypted_sender_data)
        .vector(encrypted.ciphertext)
    )


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
