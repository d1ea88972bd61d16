"""Wire formats of one-to-one messages, and their length-checked decoders.

Two message types share a two-byte prefix ``u8 version | u8 type``. All integers
are big-endian. A ratchet message (Double Ratchet §3.4, header in the clear and
authenticated as associated data)::

    01 02 | ratchet_key (32) | u32 previous_counter (PN) | u32 counter (N) | ciphertext

A PreKey message (PQXDH §3.3: the initial message carries IK_A, EK_A, CT,
the ids of the prekeys used, and the first ciphertext)::

    01 01 | identity IK_A (129) | base_key EK_A (32) | u32 signed_prekey_id |
    u32 kem_prekey_id | u8 has_one_time | [u32 one_time_prekey_id] |
    kem_ciphertext CT (1568) | ratchet message (as above)

The ciphertext is AES-256-GCM over the padded plaintext, so its length is a
positive multiple of the padding block plus the 16-byte tag; anything else is
rejected before any key is derived.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import NoReturn

from sottovoce.crypto import aead, dh, kem
from sottovoce.protocol.encoding import Reader
from sottovoce.protocol.errors import DecodeError
from sottovoce.protocol.limits import MAX_PLAINTEXT_LEN
from sottovoce.protocol.padding import PADDING_BLOCK, padded_length
from sottovoce.protocol.public.identity import PUBLIC_IDENTITY_LEN

WIRE_VERSION = 1


class MessageType(enum.IntEnum):
    PREKEY = 1
    MESSAGE = 2


_PREFIX_LEN = 2
RATCHET_PREFIX = bytes([WIRE_VERSION, MessageType.MESSAGE])
PREKEY_PREFIX = bytes([WIRE_VERSION, MessageType.PREKEY])
# prefix | ratchet key | PN | N
_COUNTERS_OFFSET = _PREFIX_LEN + dh.PUBLIC_KEY_LEN
_COUNTERS = struct.Struct(">II")
RATCHET_HEADER_LEN = _COUNTERS_OFFSET + _COUNTERS.size
MAX_CIPHERTEXT_LEN = padded_length(MAX_PLAINTEXT_LEN) + aead.TAG_LEN
MIN_CIPHERTEXT_LEN = PADDING_BLOCK + aead.TAG_LEN
MAX_RATCHET_MESSAGE_LEN = RATCHET_HEADER_LEN + MAX_CIPHERTEXT_LEN
_BASE_KEY_OFFSET = _PREFIX_LEN + PUBLIC_IDENTITY_LEN
# prefix | IK_A | EK_A | two prekey ids | flag | optional one-time id | CT
MAX_PREKEY_HEADER_LEN = _BASE_KEY_OFFSET + dh.PUBLIC_KEY_LEN + 4 + 4 + 1 + 4 + kem.CIPHERTEXT_LEN
# The largest message any decoder accepts: a PreKey message around a maximal
# ratchet message. Longer input is rejected before it is parsed.
MAX_MESSAGE_LEN = MAX_PREKEY_HEADER_LEN + MAX_RATCHET_MESSAGE_LEN


@dataclass(slots=True)
class RatchetMessage:
    """A decoded ratchet message; ``header`` is the exact bytes the AEAD authenticated.

    Not frozen: a frozen dataclass costs three times as much to build, and one
    is built per received message. Nothing mutates it after decoding.
    """

    header: bytes
    ratchet_key: bytes
    previous_counter: int
    counter: int
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class PreKeyMessage:
    """A decoded PreKey message. ``identity`` is unverified bytes until the responder parses it."""

    identity: bytes
    base_key: bytes
    signed_prekey_id: int
    kem_prekey_id: int
    one_time_prekey_id: int | None
    kem_ciphertext: bytes
    message: RatchetMessage


def _check_envelope(message: bytes) -> None:
    if not message:
        raise DecodeError("message is empty")
    if len(message) > MAX_MESSAGE_LEN:
        raise DecodeError(f"message is {len(message)} bytes, more than {MAX_MESSAGE_LEN}")
    if message[0] != WIRE_VERSION:
        raise DecodeError(f"unknown message version {message[0]}, expected {WIRE_VERSION}")
    if len(message) < _PREFIX_LEN:
        raise DecodeError("message is truncated in type")


def message_type(message: bytes) -> MessageType:
    """The type of a wire message, after checking its version and overall size."""
    _check_envelope(message)
    try:
        return MessageType(message[1])
    except ValueError:
        raise DecodeError(f"unknown message type {message[1]}") from None


def decode_ratchet_message(message: bytes) -> RatchetMessage:
    """Parse a ratchet message; the common well-formed case costs two comparisons."""
    ciphertext_len = len(message) - RATCHET_HEADER_LEN
    if (
        not message.startswith(RATCHET_PREFIX)
        or not MIN_CIPHERTEXT_LEN <= ciphertext_len <= MAX_CIPHERTEXT_LEN
        or (ciphertext_len - aead.TAG_LEN) % PADDING_BLOCK
    ):
        _reject_ratchet_message(message)
    previous_counter, counter = _COUNTERS.unpack_from(message, _COUNTERS_OFFSET)
    return RatchetMessage(
        message[:RATCHET_HEADER_LEN],
        message[_PREFIX_LEN:_COUNTERS_OFFSET],
        previous_counter,
        counter,
        message[RATCHET_HEADER_LEN:],
    )


def _reject_ratchet_message(message: bytes) -> NoReturn:
    """Name what is wrong with a ratchet message that failed the fast checks."""
    if len(message) > MAX_RATCHET_MESSAGE_LEN:
        raise DecodeError(
            f"ratchet message is {len(message)} bytes, more than {MAX_RATCHET_MESSAGE_LEN}"
        )
    if message_type(message) is not MessageType.MESSAGE:
        raise DecodeError(f"expected a ratchet message, got type {message[1]}")
    if len(message) < RATCHET_HEADER_LEN:
        raise DecodeError("ratchet message is truncated in its header")
    raise DecodeError(
        f"ratchet ciphertext length {len(message) - RATCHET_HEADER_LEN} "
        "is not a padded plaintext plus its tag"
    )


def ratchet_header_prefix(ratchet_key: bytes, previous_counter: int) -> bytes:
    """The part of a ratchet header that stays the same along one sending chain."""
    return RATCHET_PREFIX + ratchet_key + previous_counter.to_bytes(4, "big")


def encode_prekey_header(
    identity: bytes,
    base_key: bytes,
    signed_prekey_id: int,
    kem_prekey_id: int,
    one_time_prekey_id: int | None,
    kem_ciphertext: bytes,
) -> bytes:
    """Everything of a PreKey message before its ratchet message; constant per session."""
    one_time = (
        b"\x00" if one_time_prekey_id is None else b"\x01" + one_time_prekey_id.to_bytes(4, "big")
    )
    return b"".join(
        (
            PREKEY_PREFIX,
            identity,
            base_key,
            signed_prekey_id.to_bytes(4, "big"),
            kem_prekey_id.to_bytes(4, "big"),
            one_time,
            kem_ciphertext,
        )
    )


def decode_prekey_message(message: bytes) -> PreKeyMessage:
    if message_type(message) is not MessageType.PREKEY:
        raise DecodeError(f"expected a PreKey message, got type {message[1]}")
    reader = Reader(message, "PreKey message")
    reader.fixed(_PREFIX_LEN, "prefix")
    identity = reader.fixed(PUBLIC_IDENTITY_LEN, "identity")
    base_key = reader.fixed(dh.PUBLIC_KEY_LEN, "base key")
    signed_prekey_id = reader.u32("signed prekey id")
    kem_prekey_id = reader.u32("KEM prekey id")
    one_time_prekey_id = reader.u32("one-time prekey id") if reader.flag("one-time flag") else None
    kem_ciphertext = reader.fixed(kem.CIPHERTEXT_LEN, "KEM ciphertext")
    if reader.remaining == 0:
        raise DecodeError("PreKey message is truncated before its ratchet message")
    inner = decode_ratchet_message(reader.rest())
    return PreKeyMessage(
        identity,
        base_key,
        signed_prekey_id,
        kem_prekey_id,
        one_time_prekey_id,
        kem_ciphertext,
        inner,
    )


def prekey_message_base_key(message: bytes) -> bytes:
    """EK_A of a PreKey message: which PQXDH run (hence which session) it belongs to."""
    if message_type(message) is not MessageType.PREKEY:
        raise DecodeError(f"expected a PreKey message, got type {message[1]}")
    end = _BASE_KEY_OFFSET + dh.PUBLIC_KEY_LEN
    if len(message) < end:
        raise DecodeError("PreKey message is truncated in base key")
    return message[_BASE_KEY_OFFSET:end]
