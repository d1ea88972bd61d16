"""Sender certificates: the server's short-lived statement of who a sealed sender is.

Signal's sealed sender ("Technology preview: Sealed sender for Signal", 2018;
libsignal ``sealed_sender.rs``) hides the sender from the server by moving the
sender's identity inside the encryption. So that a recipient can still tell who
wrote, the server issues each device a certificate — address, device id, identity
key, expiry — signed with the server's certificate key. The sender puts it inside
the sealed envelope; the recipient checks the signature and the expiry, and that
the certificate's identity is the identity the inner session authenticates (the
server could sign a certificate for anyone, but cannot produce the session).

Wire form, integers big-endian::

    u8 version | u32 key_id | u64 expires_ms | u32 device_id |
    identity (PublicIdentity, 129) | u8 address_len | address (UTF-8) |
    signature (Ed25519, 64, over the context string and everything before it)

The server both issues (``issue``) and verifies (in abuse reports, docs/safety.md),
so this module lives in ``protocol.public`` and uses only signatures.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.crypto import signing
from sottovoce.crypto.errors import CryptoError
from sottovoce.protocol.encoding import Reader, check_version
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public.identity import PUBLIC_IDENTITY_LEN, PublicIdentity

CERTIFICATE_VERSION = 1
_SIGNING_CONTEXT = b"Sottovoce sender certificate v1\x00"
# An address is handle@app: at most 32 + 1 + 32 characters (docs/api.md).
MAX_ADDRESS_LEN = 65
MAX_CERTIFICATE_LEN = (
    1 + 4 + 8 + 4 + PUBLIC_IDENTITY_LEN + 1 + MAX_ADDRESS_LEN + signing.SIGNATURE_LEN
)


class CertificateExpired(VerificationError):
    """The certificate's expiry lies before the time it is checked against."""


@dataclass(frozen=True, slots=True)
class SenderCertificate:
    key_id: int
    expires_ms: int
    address: str
    device_id: int
    identity: PublicIdentity
    signature: bytes
    encoded: bytes

    @staticmethod
    def _body(
        key_id: int, expires_ms: int, address: str, device_id: int, identity: PublicIdentity
    ) -> bytes:
        name = address.encode()
        if not 0 < len(name) <= MAX_ADDRESS_LEN:
            raise DecodeError(f"a certificate address is 1-{MAX_ADDRESS_LEN} bytes")
        return b"".join(
            (
                bytes([CERTIFICATE_VERSION]),
                key_id.to_bytes(4, "big"),
                expires_ms.to_bytes(8, "big"),
                device_id.to_bytes(4, "big"),
                identity.to_bytes(),
                bytes([len(name)]),
                name,
            )
        )

    @classmethod
    def issue(
        cls,
        key: signing.SigningKey,
        key_id: int,
        *,
        address: str,
        device_id: int,
        identity: PublicIdentity,
        expires_ms: int,
    ) -> SenderCertificate:
        """Sign a certificate (the server, for an authenticated device)."""
        body = cls._body(key_id, expires_ms, address, device_id, identity)
        signature = key.sign(_SIGNING_CONTEXT + body)
        return cls(key_id, expires_ms, address, device_id, identity, signature, body + signature)

    @classmethod
    def from_bytes(cls, data: bytes) -> SenderCertificate:
        """Parse (not yet trusted: call :meth:`verify`); :class:`DecodeError` names the fault."""
        if not data:
            raise DecodeError("sender certificate is empty")
        if len(data) > MAX_CERTIFICATE_LEN:
            raise DecodeError(f"sender certificate is longer than {MAX_CERTIFICATE_LEN} bytes")
        reader = Reader(data, "sender certificate")
        check_version(reader.u8("version"), CERTIFICATE_VERSION, "sender certificate")
        key_id = reader.u32("key id")
        expires_ms = int.from_bytes(reader.fixed(8, "expiry"), "big")
        device_id = reader.u32("device id")
        identity = PublicIdentity.from_bytes(reader.fixed(PUBLIC_IDENTITY_LEN, "identity"))
        length = reader.u8("address length")
        try:
            address = reader.fixed(length, "address").decode()
        except UnicodeDecodeError as exc:
            raise DecodeError("sender certificate address is not UTF-8") from exc
        if not address:
            raise DecodeError("sender certificate address is empty")
        signature = reader.fixed(signing.SIGNATURE_LEN, "signature")
        reader.finish()
        return cls(key_id, expires_ms, address, device_id, identity, signature, data)

    def verify(self, server_key: bytes, key_id: int, at_ms: int) -> None:
        """Check the server's signature and that the certificate is valid at ``at_ms``
        (the message's arrival time on the server, which the recipient is told)."""
        if self.key_id != key_id:
            raise VerificationError(
                f"sender certificate names server key {self.key_id}, not {key_id}"
            )
        body = self.encoded[: -signing.SIGNATURE_LEN]
        try:
            signing.verify(server_key, self.signature, _SIGNING_CONTEXT + body)
        except CryptoError as exc:
            raise VerificationError("sender certificate signature does not verify") from exc
        if self.expires_ms < at_ms:
            raise CertificateExpired("sender certificate expired before the message arrived")

    def __repr__(self) -> str:
        return (
            f"SenderCertificate({self.address!r}, device {self.device_id}, "
            f"expires_ms={self.expires_ms})"
        )
