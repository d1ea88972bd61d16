"""An account's device list, signed by the account identity key and versioned.

The list is what a sender encrypts to and what key transparency publishes, so a
device the owner did not sign cannot be added without detection. Layout (all
integers big-endian)::

    "SVDL" | u8 format=1 | u16 len | address (utf-8) | u64 version | u16 count |
    count x (u32 device_id | PublicIdentity (129 bytes) | u32 added_day) |
    64-byte Ed25519 signature by the account key over _CONTEXT + everything before it
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sottovoce.crypto import signing
from sottovoce.crypto.errors import CryptoError
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public.identity import PUBLIC_IDENTITY_LEN, PublicIdentity

_MAGIC = b"SVDL"
_FORMAT = 1
_CONTEXT = b"Sottovoce device list v1\x00"
_SIGNATURE_LEN = 64
# Signal allows 5 linked devices plus the phone; WhatsApp 4 companions plus the
# phone. 16 leaves headroom while keeping fan-out per message small.
MAX_DEVICES = 16
MAX_ADDRESS_LEN = 128


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    device_id: int
    identity: PublicIdentity
    added_day: int


@dataclass(frozen=True, slots=True)
class DeviceList:
    address: str
    version: int
    devices: tuple[DeviceEntry, ...]

    def device_ids(self) -> frozenset[int]:
        return frozenset(d.device_id for d in self.devices)

    def device(self, device_id: int) -> DeviceEntry | None:
        return next((d for d in self.devices if d.device_id == device_id), None)

    def signed_body(self) -> bytes:
        if len(self.devices) > MAX_DEVICES:
            raise ValueError(f"a device list holds at most {MAX_DEVICES} devices")
        address = self.address.encode()
        parts = [
            _MAGIC,
            struct.pack(">BH", _FORMAT, len(address)),
            address,
            struct.pack(">QH", self.version, len(self.devices)),
        ]
        for d in sorted(self.devices, key=lambda e: e.device_id):
            parts.append(struct.pack(">I", d.device_id))
            parts.append(d.identity.to_bytes())
            parts.append(struct.pack(">I", d.added_day))
        return b"".join(parts)

    def sign(self, account_key: signing.SigningKey) -> bytes:
        """Return the signed wire form."""
        body = self.signed_body()
        return body + account_key.sign(_CONTEXT + body)


def parse_device_list(data: bytes, account_key: bytes) -> DeviceList:
    """Parse a signed device list and verify it against the account's public key."""
    if len(data) < len(_MAGIC) + 3 + 10 + _SIGNATURE_LEN:
        raise DecodeError("device list is truncated")
    body, signature = data[:-_SIGNATURE_LEN], data[-_SIGNATURE_LEN:]
    if body[:4] != _MAGIC:
        raise DecodeError("device list has the wrong magic")
    fmt, address_len = struct.unpack_from(">BH", body, 4)
    if fmt != _FORMAT:
        raise DecodeError(f"unknown device list format {fmt}")
    if address_len > MAX_ADDRESS_LEN:
        raise DecodeError("device list address is too long")
    pos = 7
    if len(body) < pos + address_len + 10:
        raise DecodeError("device list is truncated")
    try:
        address = body[pos : pos + address_len].decode()
    except UnicodeDecodeError as exc:
        raise DecodeError("device list address is not UTF-8") from exc
    pos += address_len
    version, count = struct.unpack_from(">QH", body, pos)
    pos += 10
    if count > MAX_DEVICES:
        raise DecodeError(f"device list names {count} devices, more than {MAX_DEVICES}")
    entry_len = 4 + PUBLIC_IDENTITY_LEN + 4
    if len(body) != pos + count * entry_len:
        raise DecodeError("device list length does not match its device count")
    try:
        signing.verify(account_key, signature, _CONTEXT + body)
    except CryptoError as exc:
        raise VerificationError("device list signature does not verify") from exc
    devices = []
    seen: set[int] = set()
    for _ in range(count):
        (device_id,) = struct.unpack_from(">I", body, pos)
        identity = PublicIdentity.from_bytes(body[pos + 4 : pos + 4 + PUBLIC_IDENTITY_LEN])
        (added_day,) = struct.unpack_from(">I", body, pos + 4 + PUBLIC_IDENTITY_LEN)
        pos += entry_len
        if device_id in seen:
            raise DecodeError(f"device list repeats device {device_id}")
        seen.add(device_id)
        devices.append(DeviceEntry(device_id, identity, added_day))
    return DeviceList(address, version, tuple(devices))
