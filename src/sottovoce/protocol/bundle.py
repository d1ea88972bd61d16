"""The prekey bundle an initiator fetches from the server (PQXDH §3.2-§3.3).

A bundle comes from an untrusted server, so it is only data until ``verify``
has checked the identity binding and both prekey signatures; ``Session.initiate``
calls it before any key is used.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.crypto import dh, kem, signing
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.limits import MAX_PREKEY_ID
from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.protocol.public.prekeys import (
    PrekeyKind,
    kem_prekey_kind,
    verify_prekey_signature,
)


@dataclass(frozen=True, slots=True)
class PreKeyBundle:
    identity: PublicIdentity
    signed_prekey_id: int
    signed_prekey: bytes
    signed_prekey_signature: bytes
    kem_prekey_id: int
    kem_prekey: bytes
    kem_prekey_signature: bytes
    kem_prekey_last_resort: bool
    one_time_prekey_id: int | None
    one_time_prekey: bytes | None

    def _check_shape(self) -> None:
        for name, key_id in (
            ("signed prekey", self.signed_prekey_id),
            ("KEM prekey", self.kem_prekey_id),
            ("one-time prekey", self.one_time_prekey_id),
        ):
            if key_id is not None and not 0 <= key_id <= MAX_PREKEY_ID:
                raise DecodeError(f"bundle {name} id {key_id} is outside 0..{MAX_PREKEY_ID}")
        if len(self.signed_prekey) != dh.PUBLIC_KEY_LEN:
            raise DecodeError(f"bundle signed prekey must be {dh.PUBLIC_KEY_LEN} bytes")
        if len(self.kem_prekey) != kem.PUBLIC_KEY_LEN:
            raise DecodeError(f"bundle KEM prekey must be {kem.PUBLIC_KEY_LEN} bytes")
        for name, signature in (
            ("signed prekey", self.signed_prekey_signature),
            ("KEM prekey", self.kem_prekey_signature),
        ):
            if len(signature) != signing.SIGNATURE_LEN:
                raise DecodeError(f"bundle {name} signature must be {signing.SIGNATURE_LEN} bytes")
        if (self.one_time_prekey_id is None) != (self.one_time_prekey is None):
            raise DecodeError("bundle one-time prekey id and key must be given together")
        if self.one_time_prekey is not None and len(self.one_time_prekey) != dh.PUBLIC_KEY_LEN:
            raise DecodeError(f"bundle one-time prekey must be {dh.PUBLIC_KEY_LEN} bytes")

    def verify(self) -> None:
        """PQXDH §3.3: check the shape, the identity binding and both prekey signatures.

        Raises :class:`DecodeError` for a malformed bundle and
        :class:`VerificationError` for a signature that does not verify.
        """
        self._check_shape()
        self.identity.verify_binding()
        try:
            verify_prekey_signature(
                self.identity,
                PrekeyKind.SIGNED_EC,
                self.signed_prekey_id,
                self.signed_prekey,
                self.signed_prekey_signature,
            )
        except VerificationError:
            raise VerificationError("bundle signed prekey signature does not verify") from None
        kind = kem_prekey_kind(self.kem_prekey_last_resort)
        try:
            verify_prekey_signature(
                self.identity, kind, self.kem_prekey_id, self.kem_prekey, self.kem_prekey_signature
            )
        except VerificationError:
            raise VerificationError("bundle KEM prekey signature does not verify") from None
