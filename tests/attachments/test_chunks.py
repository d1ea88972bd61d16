"""Chunked attachment encryption: round trips, and every kind of damage is detected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.client.attachments import (
    CHUNK_BYTES,
    SEALED_CHUNK_BYTES,
    AttachmentError,
    AttachmentPointer,
    ChunkDecryptor,
    ChunkEncryptor,
    sealed_size,
)
from sottovoce.client.errors import InvalidMessage
from sottovoce.crypto.random import random_bytes

KEY = bytes(range(32))


def _encrypt(data: bytes, piece: int = 10_000) -> tuple[bytes, bytes]:
    encryptor = ChunkEncryptor(KEY)
    out = b"".join(encryptor.update(data[i : i + piece]) for i in range(0, len(data), piece))
    out += encryptor.finalize()
    assert encryptor.digest is not None
    return out, encryptor.digest


def _decrypt(sealed: bytes, digest: bytes, piece: int = 7_777) -> bytes:
    decryptor = ChunkDecryptor(KEY, digest)
    out = b"".join(decryptor.update(sealed[i : i + piece]) for i in range(0, len(sealed), piece))
    return out + decryptor.finalize()


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES]
)
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    data = random_bytes(size)
    sealed, digest = _encrypt(data)
    assert len(sealed) == sealed_size(size)
    assert _decrypt(sealed, digest) == data


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=3 * CHUNK_BYTES // 100), st.integers(1, 5000), st.integers(1, 5000))
def test_round_trip_whatever_the_pieces(data: bytes, into: int, out: int) -> None:
    sealed, digest = _encrypt(data, into)
    assert _decrypt(sealed, digest, out) == data


def test_a_flipped_bit_is_detected() -> None:
    sealed, digest = _encrypt(random_bytes(2 * CHUNK_BYTES + 5))
    damaged = bytearray(sealed)
    damaged[CHUNK_BYTES + 100] ^= 1
    with pytest.raises(AttachmentError, match="chunk 1 is damaged"):
        _decrypt(bytes(damaged), digest)


def test_truncation_at_a_chunk_boundary_is_detected() -> None:
    sealed, digest = _encrypt(random_bytes(3 * CHUNK_BYTES))
    cut = sealed[: 2 * SEALED_CHUNK_BYTES]  # two whole chunks: looks complete
    with pytest.raises(AttachmentError, match="last chunk"):
        _decrypt(cut, digest)


def test_truncation_mid_chunk_and_to_nothing_are_detected() -> None:
    sealed, digest = _encrypt(random_bytes(CHUNK_BYTES + 10))
    with pytest.raises(AttachmentError):
        _decrypt(sealed[:-1], digest)
    with pytest.raises(AttachmentError, match="cut short"):
        _decrypt(b"", digest)


def test_reordered_chunks_are_detected() -> None:
    sealed, digest = _encrypt(random_bytes(3 * CHUNK_BYTES))
    c = [sealed[i : i + SEALED_CHUNK_BYTES] for i in range(0, len(sealed), SEALED_CHUNK_BYTES)]
    with pytest.raises(AttachmentError, match="chunk 0"):
        _decrypt(c[1] + c[0] + c[2], digest)


def test_an_appended_chunk_is_detected() -> None:
    sealed, digest = _encrypt(random_bytes(CHUNK_BYTES))
    with pytest.raises(AttachmentError):
        _decrypt(sealed + sealed, digest)


def test_a_wrong_digest_is_detected_even_when_every_chunk_opens() -> None:
    sealed, _ = _encrypt(random_bytes(100))
    with pytest.raises(AttachmentError, match="digest"):
        _decrypt(sealed, bytes(32))


def test_pointer_round_trip_and_hostile_fields() -> None:
    pointer = AttachmentPointer(
        "A" * 22, KEY, bytes(32), 5, "cat.png", "image/png", "data:image/png;base64,AAAA"
    )
    assert AttachmentPointer.from_json(pointer.to_json()) == pointer
    assert "key=" not in repr(pointer) and "thumbnail=" not in repr(pointer)
    for name, value in [
        ("blob", "../etc"),
        ("key", "AAAA"),
        ("size", -1),
        ("size", 2**40),
        ("type", "text/html; x"),
        ("thumb", "javascript:alert(1)"),
        ("thumb", "data:text/html;base64,AAAA"),
        ("name", ""),
    ]:
        with pytest.raises(InvalidMessage):
            AttachmentPointer.from_json({**pointer.to_json(), name: value})
