"""PreSharedKeyID encoding and psk_secret combination (RFC 9420 §8.4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.codec import Reader
from sottovoce.mls.errors import DecodeError, ValidationError
from sottovoce.mls.psk import MAX_PSKS, psk_secret
from sottovoce.mls.wire.psk import PreSharedKeyId, PskType, ResumptionPskUsage

SUITE = cipher_suite(1)

psk_ids = st.one_of(
    st.builds(PreSharedKeyId.external, st.binary(max_size=40), st.binary(max_size=40)),
    st.builds(
        PreSharedKeyId.resumption,
        st.sampled_from(list(ResumptionPskUsage)),
        st.binary(max_size=40),
        st.integers(0, 2**64 - 1),
        st.binary(max_size=40),
    ),
)


@settings(max_examples=50, deadline=None)
@given(psk_ids)
def test_psk_id_round_trips(psk_id: PreSharedKeyId) -> None:
    reader = Reader(bytes(psk_id))
    assert PreSharedKeyId.decode(reader) == psk_id
    reader.finish("PreSharedKeyID")


def test_resumption_encoding_is_byte_exact() -> None:
    psk_id = PreSharedKeyId.resumption(ResumptionPskUsage.REINIT, b"g", 5, b"n")
    assert bytes(psk_id).hex() == "020201670000000000000005016e"
    assert psk_id.psk_type is PskType.RESUMPTION


@pytest.mark.parametrize(
    ("encoded", "message"),
    [
        ("00", "unknown PSKType 0"),
        ("03", "unknown PSKType 3"),
        ("0204", "unknown ResumptionPSKUsage 4"),
        ("01", "PreSharedKeyID.psk_id"),
        ("0102aa", "PreSharedKeyID.psk_id"),
        ("0100", "PreSharedKeyID.psk_nonce"),
        ("020101aa00", "PreSharedKeyID.psk_epoch"),
        ("", "PreSharedKeyID.psktype"),
    ],
)
def test_malformed_psk_id_is_a_decode_error(encoded: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        PreSharedKeyId.decode(Reader(bytes.fromhex(encoded)))


def test_psk_nonce_must_be_nh_bytes() -> None:
    PreSharedKeyId.external(b"id", bytes(32)).validate_nonce(SUITE)
    with pytest.raises(ValidationError, match="psk_nonce must be 32 bytes, got 31"):
        PreSharedKeyId.external(b"id", bytes(31)).validate_nonce(SUITE)


def test_no_psks_gives_zeros_and_order_matters() -> None:
    assert psk_secret(SUITE, []) == bytes(32)
    a = (PreSharedKeyId.external(b"a", bytes(32)), b"psk a")
    b = (PreSharedKeyId.external(b"b", bytes(32)), b"psk b")
    assert psk_secret(SUITE, [a, b]) != psk_secret(SUITE, [b, a])
    assert psk_secret(SUITE, [a]) != psk_secret(SUITE, [a, a])
    assert psk_secret(SUITE, [a]) != bytes(32)


def test_psk_count_is_bounded_by_the_uint16_label() -> None:
    entry = (PreSharedKeyId.external(b"a", bytes(32)), b"psk")
    with pytest.raises(ValidationError, match=f"at most {MAX_PSKS} PSKs"):
        psk_secret(SUITE, [entry] * (MAX_PSKS + 1))
