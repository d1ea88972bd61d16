"""Safety numbers: what two people compare to know nobody sits between them.

Modelled on libsignal's displayable and scannable fingerprints (``fingerprint``
in its protocol crate, version 2 iterated hashing): each side's fingerprint is

    h = SHA-512(u16 version || material || stable id)
    repeat ITERATIONS times: h = SHA-512(h || material)

over the side's *material*: its account key and, unlike Signal, every device of
its signed device list (id and both identity keys), because in Sottovoce a
device added to a list receives copies of every message: a ghost device must
change the number. The display takes 30 digits per side (six 5-byte chunks,
each mod 100000) and shows the two halves sorted, so both people see the same 60
digits. The scannable form carries both 32-byte fingerprints, local first; the
other device checks that they are its own pair swapped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sottovoce.crypto.hashing import constant_time_equal, sha512
from sottovoce.protocol.errors import DecodeError, VerificationError
from sottovoce.protocol.public.device_list import DeviceList

SAFETY_NUMBER_VERSION = 2
# libsignal's choice: 5200 SHA-512 iterations make brute-forcing a key pair whose
# fingerprint collides with someone's 30 digits (about 2^100 work) much slower.
ITERATIONS = 5200
FINGERPRINT_LEN = 32
DIGITS_PER_SIDE = 30
_CHUNK_LEN = 5
_SCANNABLE = struct.Struct(f">4sB{FINGERPRINT_LEN}s{FINGERPRINT_LEN}s")
_SCANNABLE_MAGIC = b"SVSN"


def material(account_key: bytes, devices: DeviceList) -> bytes:
    """What a side's fingerprint covers: the account key and every listed device.

    The list's version is left out on purpose: re-signing the same devices is no
    change a person needs to check.
    """
    parts = [account_key, struct.pack(">H", len(devices.devices))]
    for entry in sorted(devices.devices, key=lambda d: d.device_id):
        parts.append(struct.pack(">I", entry.device_id))
        parts.append(entry.identity.sign_public)
        parts.append(entry.identity.dh_public)
    return b"".join(parts)


def fingerprint(material_bytes: bytes, stable_id: str) -> bytes:
    """One side's 32-byte fingerprint (the iterated hash above)."""
    digest = sha512(struct.pack(">H", SAFETY_NUMBER_VERSION) + material_bytes + stable_id.encode())
    for _ in range(ITERATIONS):
        digest = sha512(digest + material_bytes)
    return digest[:FINGERPRINT_LEN]


def _digits(fp: bytes) -> str:
    chunks = (fp[i : i + _CHUNK_LEN] for i in range(0, DIGITS_PER_SIDE, _CHUNK_LEN))
    return "".join(f"{int.from_bytes(c, 'big') % 100_000:05d}" for c in chunks)


@dataclass(frozen=True, slots=True)
class SafetyNumber:
    local: bytes
    remote: bytes

    @classmethod
    def compute(
        cls,
        local_address: str,
        local_material: bytes,
        remote_address: str,
        remote_material: bytes,
    ) -> SafetyNumber:
        return cls(
            fingerprint(local_material, local_address), fingerprint(remote_material, remote_address)
        )

    def digits(self) -> str:
        """60 digits, the same on both sides: the two halves in sorted order."""
        return "".join(sorted((_digits(self.local), _digits(self.remote))))

    def groups(self) -> list[str]:
        """The digits in twelve groups of five, as people read them aloud."""
        digits = self.digits()
        return [digits[i : i + 5] for i in range(0, len(digits), 5)]

    def scannable(self) -> bytes:
        """The QR payload: ``"SVSN" | u8 version | local fingerprint | remote fingerprint``."""
        return _SCANNABLE.pack(_SCANNABLE_MAGIC, SAFETY_NUMBER_VERSION, self.local, self.remote)

    def check_scanned(self, payload: bytes) -> None:
        """Raise unless ``payload`` is the other side's scannable form of this number."""
        if len(payload) != _SCANNABLE.size:
            raise DecodeError(f"a scanned safety number is {_SCANNABLE.size} bytes")
        magic, version, their_local, their_remote = _SCANNABLE.unpack(payload)
        if magic != _SCANNABLE_MAGIC:
            raise DecodeError("the scanned code is not a safety number")
        if version != SAFETY_NUMBER_VERSION:
            raise DecodeError(f"the scanned safety number has version {version}")
        if not (
            constant_time_equal(their_local, self.remote)
            and constant_time_equal(their_remote, self.local)
        ):
            raise VerificationError("the scanned safety number does not match")
