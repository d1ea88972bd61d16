"""Safety numbers of contacts, and the verified mark that blocks a silent change.

A person who compared a contact's safety number (``protocol.safety_number``)
marks them verified; the contact's side of the number is remembered. If that
side later changes (a new account key, or a device added to or removed from the
contact's list), sending is refused with :class:`VerificationRequired` until
the person compares the new number and confirms it again, as Signal does for a
verified contact whose safety number changed.
"""

from __future__ import annotations

from sottovoce.client.errors import SecurityError
from sottovoce.client.server_json import b64, unb64
from sottovoce.client.store import Store
from sottovoce.crypto.hashing import constant_time_equal
from sottovoce.protocol.public.device_list import DeviceList
from sottovoce.protocol.safety_number import SafetyNumber, fingerprint, material

VERIFIED = "verified"


class VerificationRequired(SecurityError):
    def __init__(self, address: str) -> None:
        super().__init__(
            f"the safety number with {address}, whom you verified, has changed; compare it "
            f"again and run `sottovoce verify {address} --confirm` before sending"
        )
        self.address = address


def safety_number(
    local: str,
    local_key: bytes,
    local_devices: DeviceList,
    remote: str,
    remote_key: bytes,
    remote_devices: DeviceList,
) -> SafetyNumber:
    return SafetyNumber.compute(
        local, material(local_key, local_devices), remote, material(remote_key, remote_devices)
    )


class Verifications:
    def __init__(self, store: Store) -> None:
        self._store = store

    def mark(self, address: str, number: SafetyNumber) -> None:
        with self._store.transaction():
            self._store.put_json(
                VERIFIED, address, {"address": address, "remote": b64(number.remote)}
            )

    def is_verified(self, address: str) -> bool:
        return self._store.get_json(VERIFIED, address) is not None

    def changed(self, address: str, key: bytes, devices: DeviceList) -> bool:
        """Whether a verified contact's side of the number differs from when verified."""
        record = self._store.get_json(VERIFIED, address)
        if record is None:
            return False
        current = fingerprint(material(key, devices), address)
        return not constant_time_equal(unb64(str(record.get("remote", ""))), current)

    def check_sendable(self, address: str, key: bytes, devices: DeviceList) -> None:
        if self.changed(address, key, devices):
            raise VerificationRequired(address)
