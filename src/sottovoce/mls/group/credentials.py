"""Who a leaf is: a BasicCredential naming one Sottovoce device (RFC 9420 §5.3).

Every device of an account is its own MLS client, so the credential identity is
``handle@app/device`` as UTF-8 bytes: the application (§5.3.1) maps it to the
account whose signed device list vouches for the leaf's signature key. Two leaves
with the same identity are the same client (§5.3.3), which is what the
"already in the group" rule of §12.2 compares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sottovoce.mls.errors import ValidationError
from sottovoce.mls.wire.credentials import Credential
from sottovoce.mls.wire.registry import CredentialType

# docs/api.md, Names: the handle and app grammars of a Sottovoce address.
_HANDLE = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
_APP = re.compile(r"[a-z][a-z0-9-]{0,31}")
# docs/api.md: a device id is a positive integer; the relay stores it as a uint32.
MAX_DEVICE_ID = 0xFFFF_FFFF
# 32-byte handle, "@", 32-byte app, "/", ten decimal digits of a uint32.
MAX_IDENTITY_LEN = 32 + 1 + 32 + 1 + 10


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """The identity a Sottovoce device presents in its MLS BasicCredential."""

    address: str
    device_id: int

    def __post_init__(self) -> None:
        handle, sep, app = self.address.partition("@")
        if not sep or not _HANDLE.fullmatch(handle) or not _APP.fullmatch(app):
            raise ValidationError(f"credential identity: {self.address!r} is not handle@app")
        if not 0 < self.device_id <= MAX_DEVICE_ID:
            raise ValidationError(f"credential identity: device id {self.device_id} out of range")

    def __bytes__(self) -> bytes:
        return f"{self.address}/{self.device_id}".encode("ascii")

    @classmethod
    def parse(cls, identity: bytes) -> DeviceIdentity:
        """Read ``handle@app/device``; anything else is a :class:`ValidationError`."""
        if not 0 < len(identity) <= MAX_IDENTITY_LEN:
            raise ValidationError(
                f"credential identity: {len(identity)} bytes, expected 1..{MAX_IDENTITY_LEN}"
            )
        try:
            text = identity.decode("ascii")
        except UnicodeDecodeError as exc:
            raise ValidationError("credential identity: not ASCII") from exc
        address, sep, device = text.rpartition("/")
        if not sep or not device.isdigit() or device.startswith("0"):
            raise ValidationError("credential identity: expected handle@app/device")
        return cls(address, int(device))


def check_device_credential(credential: Credential, signature_key: bytes) -> None:
    """§5.3.1 credential check for a Sottovoce group: every leaf is a basic credential
    naming one device. Whether ``signature_key`` is the key that account's signed
    device list vouches for is the client's check, made on top of this one."""
    if credential.credential_type is not CredentialType.BASIC:
        raise ValidationError("RFC 9420 §5.3: Sottovoce leaves carry basic credentials")
    DeviceIdentity.parse(credential.identity)
    del signature_key
