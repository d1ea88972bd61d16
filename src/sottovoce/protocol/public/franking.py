"""Message franking: commitments to what a recipient saw, and the server's delivery tags.

The construction is Facebook Messenger's franking (Facebook, "Messenger Secret
Conversations" technical whitepaper, 2016) in the committing form analysed by
Grubbs, Lu and Ristenpart ("Message Franking via Committing Authenticated
Encryption", CRYPTO 2017) and Dodis, Grubbs, Ristenpart and Woodage ("Fast
Message Franking: From Invisible Salamanders to Encryptment", CRYPTO 2018):

1. The sender draws a fresh 32-byte franking key ``Kf`` per message, puts it
   *inside* the end-to-end encryption next to the content, and sends the
   commitment ``C = HMAC-SHA256(Kf, "Sottovoce franking commitment v1" ||
   u32 len(content) || content || u16 len(certificate) || certificate)``
   *outside* it. ``content`` is exactly the bytes the recipient's client decodes
   and shows; ``certificate`` is the sender certificate of a sealed message
   (empty otherwise), so a report also binds the sealed sender's identity.
2. The server, which sees only ``C``, binds it to the delivery with its own key:
   ``tag = HMAC-SHA256(Ks, "Sottovoce franking tag v1" || C || recipient ||
   recipient device || arrival time || sender || sender device || message id)``
   (sender empty for sealed messages, whose sender the server does not know).
3. The recipient's client recomputes ``C`` from what it decrypted and drops the
   message when it differs. To report, it reveals ``content``, ``Kf``, the
   certificate and the delivery metadata; the server recomputes ``C`` and the
   tag and so knows the content was delivered, without having seen it before.

Why "invisible salamanders" cannot happen here: that attack (DGRW 2018) opens one
AES-GCM ciphertext to two plaintexts under two keys, so the content the reporter
saw and the content a franking check bound differ. In this construction the
commitment is computed over the *decrypted content itself*, with HMAC-SHA256 as
the commitment (a collision-resistant PRF: binding under collision resistance,
hiding under the PRF assumption, GLR 2017 §3). An attachment is bound the same
way: the content names its ciphertext digest and its key, so the pair (key,
ciphertext) is fixed and decrypts to one plaintext only (docs/safety.md).

Only HMAC and constant-time comparison are used: the server imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.crypto import hashing
from sottovoce.protocol.errors import DecodeError, VerificationError

FRANKING_KEY_LEN = 32
COMMITMENT_LEN = hashing.SHA256_LEN
TAG_LEN = hashing.SHA256_LEN
_COMMITMENT_LABEL = b"Sottovoce franking commitment v1\x00"
_TAG_LABEL = b"Sottovoce franking tag v1\x00"
# A group (MLS) message's tag has its own label and binds the group id as well, so
# a tag never verifies in the other context: a one-to-one message cannot be passed
# off as said in a group, nor a group message as said to the reporter alone.
_GROUP_TAG_LABEL = b"Sottovoce group franking tag v1\x00"


class FrankingMismatch(VerificationError):
    """A commitment or tag does not match what it should bind. ``reason`` is a slug."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _field(value: bytes, width: int, what: str) -> bytes:
    if len(value) >= 1 << (8 * width):
        raise DecodeError(f"{what} is too long to frank")
    return len(value).to_bytes(width, "big") + value


def commitment(franking_key: bytes, content: bytes, certificate: bytes = b"") -> bytes:
    """``C``: HMAC-SHA256 under the franking key over the content and sealed certificate."""
    if len(franking_key) != FRANKING_KEY_LEN:
        raise DecodeError(f"a franking key is {FRANKING_KEY_LEN} bytes, got {len(franking_key)}")
    if not content:
        raise DecodeError("there is no content to commit to")
    message = (
        _COMMITMENT_LABEL + _field(content, 4, "content") + _field(certificate, 2, "certificate")
    )
    return hashing.hmac_sha256(franking_key, message)


def check_commitment(
    expected: bytes, franking_key: bytes, content: bytes, certificate: bytes = b""
) -> None:
    """Raise :class:`FrankingMismatch` (``commitment-mismatch``) unless ``expected`` is ``C``."""
    if not hashing.constant_time_equal(expected, commitment(franking_key, content, certificate)):
        raise FrankingMismatch(
            "commitment-mismatch", "the content does not open the franking commitment"
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the server saw when it queued one device copy: the tag's input besides ``C``."""

    recipient: str
    recipient_device: int
    server_ts: int
    sender: str | None
    sender_device: int | None
    message_id: str
    group_id: bytes | None = None
    """The MLS group id of a group message; ``None`` for a one-to-one message."""

    def encode(self) -> bytes:
        if self.server_ts < 0 or self.recipient_device < 1:
            raise DecodeError("a delivery has a negative time or no recipient device")
        if self.group_id is not None and not self.group_id:
            raise DecodeError("a group delivery names an empty group id")
        return b"".join(
            (
                _field(self.recipient.encode(), 1, "recipient"),
                self.recipient_device.to_bytes(4, "big"),
                self.server_ts.to_bytes(8, "big"),
                _field((self.sender or "").encode(), 1, "sender"),
                (self.sender_device or 0).to_bytes(4, "big"),
                _field(self.message_id.encode(), 1, "message id"),
                b"" if self.group_id is None else _field(self.group_id, 1, "group id"),
            )
        )


def delivery_tag(server_key: bytes, commitment_value: bytes, delivery: Delivery) -> bytes:
    """The server's tag binding ``C`` to one delivery (and, for a group message, to its
    group, under a label of its own)."""
    if len(commitment_value) != COMMITMENT_LEN:
        raise DecodeError(f"a franking commitment is {COMMITMENT_LEN} bytes")
    label = _TAG_LABEL if delivery.group_id is None else _GROUP_TAG_LABEL
    return hashing.hmac_sha256(server_key, label + commitment_value + delivery.encode())


def check_tag(server_key: bytes, tag: bytes, commitment_value: bytes, delivery: Delivery) -> None:
    """Raise :class:`FrankingMismatch` (``tag-mismatch``) unless the server issued ``tag``
    for exactly this commitment and delivery."""
    if not hashing.constant_time_equal(tag, delivery_tag(server_key, commitment_value, delivery)):
        raise FrankingMismatch(
            "tag-mismatch", "the franking tag was not issued for this message and recipient"
        )
