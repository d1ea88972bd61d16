"""The psk_secret that pre-shared keys feed into the key schedule (RFC 9420 §8.4).

The chained extraction turns the PSKs of a commit or Welcome, each named by a
:class:`~sottovoce.mls.wire.psk.PreSharedKeyId`, into one ``psk_secret``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import Writer
from sottovoce.mls.errors import ValidationError
from sottovoce.mls.wire.psk import PreSharedKeyId

# §8.4 PSKLabel: index and count are uint16, so one epoch can mix in at most this
# many PSKs.
MAX_PSKS = 0xFFFF


def psk_secret(suite: CipherSuite, psks: Sequence[tuple[PreSharedKeyId, bytes]]) -> bytes:
    """§8.4: fold ``(id, psk)`` pairs, in order, into the epoch's psk_secret.

    With no PSKs the result is Nh zero bytes, the "0" input of the §8 key schedule.
    """
    if len(psks) > MAX_PSKS:
        raise ValidationError(f"RFC 9420 §8.4: at most {MAX_PSKS} PSKs, got {len(psks)}")
    zero = bytes(suite.hash_len)
    secret = zero
    count = len(psks)
    for index, (psk_id, psk) in enumerate(psks):
        psk_extracted = suite.extract(zero, psk)
        psk_label = bytes(Writer().raw(bytes(psk_id)).uint16(index).uint16(count))
        psk_input = suite.expand_with_label(psk_extracted, "derived psk", psk_label, suite.hash_len)
        secret = suite.extract(psk_input, secret)
    return secret
