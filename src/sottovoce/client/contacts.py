"""Contacts: each one's account key pinned on first use, and its verified device list.

The policy (trust on first use, as Signal and WhatsApp apply it to identity
keys): the first account key seen for an address is pinned. Later views signed
by the same key replace the device list if they are not older than the one
held (an older version is a replay). A view signed by another key is never
taken silently: it is kept aside as a pending change, :class:`IdentityChanged`
is raised, and only :meth:`ContactBook.trust` — called once the person has
checked the new key with the contact — makes it the pinned one.

Each contact is one record of the local store::

    {"address", "key", "device_list", "version",
     "changed_key"?, "changed_device_list"?}   (keys and lists in base64)

Lists are verified again against their key whenever they are loaded.
"""

from __future__ import annotations

from sottovoce.client.errors import ClientError, IdentityChanged, ProfileError, SecurityError
from sottovoce.client.server_json import b64, unb64
from sottovoce.client.session_record import SessionRecord
from sottovoce.client.store import Store
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.public.device_list import DeviceList, parse_device_list

CONTACT = "contact"


def _load_list(record: dict[str, object], key_field: str, list_field: str) -> DeviceList:
    try:
        return parse_device_list(unb64(str(record[list_field])), unb64(str(record[key_field])))
    except (KeyError, ClientError, ProtocolError) as exc:
        raise ProfileError("a contact record of the local store is damaged") from exc


def _key(record: dict[str, object], field: str) -> bytes:
    try:
        return unb64(str(record[field]))
    except (KeyError, ClientError) as exc:
        raise ProfileError("a contact record of the local store is damaged") from exc


def verify_view(address: str, key: bytes, signed_list: bytes) -> DeviceList:
    """The device list the server served for ``address``, checked against the key it
    served with it. Whether that key is the right one is :meth:`ContactBook.observe`'s
    question."""
    try:
        devices = parse_device_list(signed_list, key)
    except ProtocolError as exc:
        raise SecurityError(
            f"the server sent a device list for {address} that fails: {exc}"
        ) from exc
    if devices.address != address:
        raise SecurityError(f"the server sent another account's device list as {address}")
    return devices


class ContactBook:
    def __init__(self, store: Store) -> None:
        self._store = store

    def device_list(self, address: str) -> DeviceList | None:
        """The pinned device list, or None if the contact is new or has a pending change
        (then the server must be asked again)."""
        record = self._store.get_json(CONTACT, address)
        if record is None or "changed_key" in record:
            return None
        return _load_list(record, "key", "device_list")

    def pinned_key(self, address: str) -> bytes | None:
        record = self._store.get_json(CONTACT, address)
        return None if record is None else _key(record, "key")

    def observe(self, address: str, key: bytes, signed_list: bytes, devices: DeviceList) -> None:
        """Apply the pinning policy to a verified view of ``address`` (see the module
        docstring); raises IdentityChanged or SecurityError instead of accepting it."""
        record = self._store.get_json(CONTACT, address)
        if record is not None and _key(record, "key") != key:
            with self._store.transaction():
                self._store.put_json(
                    CONTACT,
                    address,
                    {
                        **record,
                        "address": address,
                        "changed_key": b64(key),
                        "changed_device_list": b64(signed_list),
                    },
                )
            raise IdentityChanged(address)
        if (
            record is not None
            and devices.version < _load_list(record, "key", "device_list").version
        ):
            raise SecurityError(f"the server replayed an older device list for {address}")
        with self._store.transaction():
            self._pin(address, key, signed_list)

    def _pin(self, address: str, key: bytes, signed_list: bytes) -> None:
        self._store.put_json(
            CONTACT,
            address,
            {"address": address, "key": b64(key), "device_list": b64(signed_list)},
        )

    def trust(self, address: str) -> None:
        """Accept the pending new key of ``address``. Sessions with devices whose
        identity is not the same under the new list are deleted: those keys are gone."""
        record = self._store.get_json(CONTACT, address)
        if record is None or "changed_key" not in record:
            raise ClientError(
                f"the identity of {address} has not changed; there is nothing to trust"
            )
        new = _load_list(record, "changed_key", "changed_device_list")
        old = _load_list(record, "key", "device_list")
        with self._store.transaction():
            for entry in old.devices:
                current = new.device(entry.device_id)
                if current is None or current.identity != entry.identity:
                    SessionRecord.delete(self._store, address, entry.device_id)
            self._pin(address, _key(record, "changed_key"), _key(record, "changed_device_list"))

    def pending_changes(self) -> list[str]:
        """Addresses whose changed key awaits :meth:`trust`."""
        return sorted(
            str(record.get("address"))
            for record in self._store.all_json(CONTACT)
            if "changed_key" in record
        )
