"""Protecting a group's messages and checking the ones received (RFC 9420 §6).

Sending: a FramedContent is signed over FramedContentTBS (§6.1), then either
carried in a PublicMessage with a membership tag (§6.2) or encrypted into a
PrivateMessage (§6.3). Receiving reverses it and yields an
:class:`~sottovoce.mls.wire.framing.AuthenticatedContent` whose signature has been
checked against the sender's key, so everything after this module deals with
authenticated content only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sottovoce.crypto import signing
from sottovoce.crypto.hashing import HmacSha256Key
from sottovoce.mls import framing
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import encode_vector
from sottovoce.mls.errors import ValidationError, WrongEpoch, WrongGroup
from sottovoce.mls.secret_tree import SecretTree
from sottovoce.mls.wire.framing import (
    AuthenticatedContent,
    Content,
    FramedContent,
    FramedContentAuthData,
    PrivateMessage,
    PrivateMessageContent,
    PublicMessage,
    Sender,
    content_bytes,
    framed_content_tbs,
)
from sottovoce.mls.wire.registry import ContentType, ProtocolVersion, SenderType, WireFormat


@dataclass(frozen=True, slots=True, repr=False)
class EpochKeys:
    """What protecting and opening messages of one epoch needs. ``repr`` hides secrets."""

    suite: CipherSuite
    group_id: bytes
    epoch: int
    group_context: bytes
    sender_data_secret: bytes
    membership_key: bytes
    secret_tree: SecretTree
    # The PrivateMessage headers of this epoch without authenticated_data, by content
    # type: nearly every message carries one of these, so its AADs are encoded once.
    _headers: dict[ContentType, framing.PrivateHeader] = field(
        default_factory=dict, init=False, compare=False
    )
    # The leading fields of this epoch's FramedContentTBS for a PrivateMessage, and of
    # its MLSMessage(PrivateMessage) carrying application data (see protect_application).
    tbs_head: bytes = field(init=False, compare=False)
    application_head: bytes = field(init=False, compare=False)
    # sender_data_secret keyed once: every message derives its sender-data key from it.
    sender_data_kdf: HmacSha256Key = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # §6.1 FramedContentTBS: version, wire_format, then FramedContent's group_id
        # and epoch; §6 MLSMessage: version, wire_format, then PrivateMessage's
        # group_id, epoch and content_type.
        formats = _MLS10 + WireFormat.PRIVATE_MESSAGE.to_bytes(2, "big")
        group_and_epoch = encode_vector(self.group_id) + self.epoch.to_bytes(8, "big")
        object.__setattr__(self, "tbs_head", formats + group_and_epoch)
        object.__setattr__(self, "application_head", formats + group_and_epoch + _APPLICATION)
        object.__setattr__(self, "sender_data_kdf", self.suite.keyed_kdf(self.sender_data_secret))

    def __repr__(self) -> str:
        return f"EpochKeys(epoch={self.epoch})"

    def private_header(
        self, content_type: ContentType, authenticated_data: bytes
    ) -> framing.PrivateHeader:
        """The header (§6.3) of a PrivateMessage of this group and epoch."""
        if authenticated_data:
            return framing.PrivateHeader(
                self.group_id, self.epoch, content_type, authenticated_data
            )
        header = self._headers.get(content_type)
        if header is None:
            header = framing.PrivateHeader(self.group_id, self.epoch, content_type, b"")
            self._headers[content_type] = header
        return header


_MLS10 = ProtocolVersion.MLS10.to_bytes(2, "big")
_APPLICATION = ContentType.APPLICATION.to_bytes(1, "big")
_MEMBER = SenderType.MEMBER.to_bytes(1, "big")


# Given a sender and the content it framed, the signature key to verify it with
# (the leaf's, an external sender's, or a new member's own); raises if none.
SignerLookup = Callable[[Sender, FramedContent], bytes | signing.VerifyingKey]


def _context_for(sender: Sender, group_context: bytes) -> bytes | None:
    """§6.1: the GroupContext is signed for member and new_member_commit senders only."""
    if sender.sender_type in (SenderType.MEMBER, SenderType.NEW_MEMBER_COMMIT):
        return group_context
    return None


def signature(
    keys: EpochKeys, signer: signing.SigningKey, wire_format: WireFormat, content: FramedContent
) -> bytes:
    """§6.1: the signature over ``content`` as it will travel in ``wire_format``."""
    tbs = framed_content_tbs(wire_format, content, _context_for(content.sender, keys.group_context))
    return framing.sign_content(keys.suite, signer, tbs)


def sign(
    keys: EpochKeys, signer: signing.SigningKey, wire_format: WireFormat, content: FramedContent
) -> AuthenticatedContent:
    """§6.1: signed application data or proposal (a commit also needs its confirmation
    tag, known only once :func:`signature` has fed the transcript hash)."""
    return AuthenticatedContent(
        wire_format,
        content,
        FramedContentAuthData(signature(keys, signer, wire_format, content)),
    )


def framed(
    keys: EpochKeys, sender: Sender, content: Content, authenticated_data: bytes
) -> FramedContent:
    return FramedContent(keys.group_id, keys.epoch, sender, authenticated_data, content)


def to_public(keys: EpochKeys, authenticated: AuthenticatedContent) -> PublicMessage:
    """§6.2: a PublicMessage; members add a membership tag only current members can make."""
    framing.check_wire_format(WireFormat.PUBLIC_MESSAGE, authenticated.content.content_type)
    content, auth = authenticated.content, authenticated.auth
    tag = None
    if content.sender.sender_type is SenderType.MEMBER:
        tbs = framed_content_tbs(WireFormat.PUBLIC_MESSAGE, content, keys.group_context)
        tag = framing.membership_tag(keys.suite, keys.membership_key, tbs, auth)
    return PublicMessage(content, auth, tag)


def to_private(
    keys: EpochKeys, authenticated: AuthenticatedContent, padding_block: int
) -> PrivateMessage:
    """§6.3: encrypt a member's signed content under its next ratchet key."""
    content = authenticated.content
    if content.sender.sender_type is not SenderType.MEMBER:
        raise ValidationError("RFC 9420 §6.3: only members send PrivateMessages")
    check_header(keys, content.group_id, content.epoch)
    # §6.3.1 PrivateMessageContent: the content, its auth data, then zero padding.
    plaintext = framing.padded(
        content_bytes(content.content) + bytes(authenticated.auth), padding_block
    )
    header = keys.private_header(content.content_type, content.authenticated_data)
    encrypted = framing.encrypt_content(
        keys.suite,
        keys.secret_tree,
        keys.sender_data_kdf,
        leaf_index=content.sender.index,
        header=header,
        plaintext=plaintext,
    )
    return PrivateMessage(
        content.group_id,
        content.epoch,
        content.content_type,
        content.authenticated_data,
        encrypted.encrypted_sender_data,
        encrypted.ciphertext,
    )


def protect_application(
    keys: EpochKeys,
    signer: signing.SigningKey,
    leaf_index: int,
    data: bytes,
    authenticated_data: bytes,
    padding_block: int,
) -> bytes:
    """§6.1, §6.3: application data from member ``leaf_index`` as an encoded
    MLSMessage(PrivateMessage).

    The very bytes :func:`framed`, :func:`sign`, :func:`to_private` and MLSMessage
    produce, joined from the epoch's pre-encoded fields instead: an application
    message always has this shape (a member sender, content type application), and
    it is the one message sent at volume. Receivers decode it with the wire
    structures, so any divergence fails their signature check.
    """
    encoded_ad = encode_vector(authenticated_data)
    encoded_data = encode_vector(data)
    # §6.1 FramedContentTBS{version, wire_format, FramedContent{group_id, epoch,
    # sender, authenticated_data, content_type, application_data}, GroupContext}.
    tbs = b"".join(
        (
            keys.tbs_head,
            _MEMBER,
            leaf_index.to_bytes(4, "big"),
            encoded_ad,
            _APPLICATION,
            encoded_data,
            keys.group_context,
        )
    )
    signature = framing.sign_content(keys.suite, signer, tbs)
    # §6.3.1 PrivateMessageContent{application_data, FramedContentAuthData, padding}.
    plaintext = framing.padded(encoded_data + encode_vector(signature), padding_block)
    encrypted = framing.encrypt_content(
        keys.suite,
        keys.secret_tree,
        keys.sender_data_kdf,
        leaf_index=leaf_index,
        header=keys.private_header(ContentType.APPLICATION, authenticated_data),
        plaintext=plaintext,
    )
    # §6 MLSMessage{version, wire_format, PrivateMessage{group_id, epoch,
    # content_type, authenticated_data, encrypted_sender_data, ciphertext}}.
    return b"".join(
        (
            keys.application_head,
            encoded_ad,
            encode_vector(encrypted.encrypted_sender_data),
            encode_vector(encrypted.ciphertext),
        )
    )


def check_header(keys: EpochKeys, group_id: bytes, epoch: int) -> None:
    """§6: a message is for this group and its current epoch."""
    if group_id != keys.group_id:
        raise WrongGroup("RFC 9420 §6: message is for another group")
    if epoch != keys.epoch:
        raise WrongEpoch(f"RFC 9420 §6: message is for epoch {epoch}, the group is at {keys.epoch}")


def open_public(
    keys: EpochKeys, message: PublicMessage, signer_of: SignerLookup
) -> AuthenticatedContent:
    """§6.2: check a PublicMessage's membership tag and signature."""
    content = message.content
    check_header(keys, content.group_id, content.epoch)
    framing.check_wire_format(WireFormat.PUBLIC_MESSAGE, content.content_type)
    sender = content.sender
    tbs = framed_content_tbs(
        WireFormat.PUBLIC_MESSAGE, content, _context_for(sender, keys.group_context)
    )
    if sender.sender_type is SenderType.MEMBER:
        if message.membership_tag is None:
            raise ValidationError("RFC 9420 §6.2: a member's PublicMessage lacks membership_tag")
        framing.verify_membership_tag(
            keys.suite, keys.membership_key, tbs, message.auth, message.membership_tag
        )
    if sender.sender_type is SenderType.NEW_MEMBER_COMMIT and (
        content.content_type is not ContentType.COMMIT
    ):
        raise ValidationError("RFC 9420 §6: a new_member_commit sender can only send a Commit")
    if sender.sender_type in (SenderType.EXTERNAL, SenderType.NEW_MEMBER_PROPOSAL) and (
        content.content_type is not ContentType.PROPOSAL
    ):
        raise ValidationError("RFC 9420 §6: external and new-member senders send only proposals")
    framing.verify_content(keys.suite, signer_of(sender, content), tbs, message.auth.signature)
    return AuthenticatedContent(WireFormat.PUBLIC_MESSAGE, content, message.auth)


def open_private(
    keys: EpochKeys,
    message: PrivateMessage,
    signer_of: SignerLookup,
    is_member: Callable[[int], bool],
) -> AuthenticatedContent:
    """§6.3: decrypt sender data and content, then check the sender's signature."""
    check_header(keys, message.group_id, message.epoch)
    header = keys.private_header(message.content_type, message.authenticated_data)
    sender_data = framing.decrypt_sender_data(
        keys.suite, keys.sender_data_kdf, header, framing.EncryptedContent.of(message)
    )
    if not is_member(sender_data.leaf_index):
        raise ValidationError(
            f"RFC 9420 §6.3.2: sender leaf {sender_data.leaf_index} is blank or outside the tree"
        )
    plaintext = framing.decrypt_content(
        keys.suite, keys.secret_tree, sender_data, header, message.ciphertext
    )
    inner = PrivateMessageContent.from_bytes(plaintext, message.content_type)
    content = FramedContent(
        message.group_id,
        message.epoch,
        Sender.member(sender_data.leaf_index),
        message.authenticated_data,
        inner.content,
    )
    tbs = framed_content_tbs(WireFormat.PRIVATE_MESSAGE, content, keys.group_context)
    framing.verify_content(
        keys.suite, signer_of(content.sender, content), tbs, inner.auth.signature
    )
    return AuthenticatedContent(WireFormat.PRIVATE_MESSAGE, content, inner.auth)
