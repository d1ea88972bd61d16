"""This account's own devices: its signed device list, linking and removing devices.

Every device of an account holds the account key, which signs the account's
device list; a list is accepted only under that key, so the server cannot add a
device (a "ghost") to it. Linking follows Signal's provisioning
(``protocol.provisioning``): the new device shows a code with a fresh ephemeral
key and its own identity; an existing device signs the next device list with
that identity in it, publishes it, and seals the provisioning message (account
key, device list, contacts, profile keys, transparency state) to the ephemeral
key. The server relays it without being able to read it.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from sottovoce.client import server_json as sj
from sottovoce.client.alerts import Alerts
from sottovoce.client.contacts import CONTACT
from sottovoce.client.errors import ClientError, MalformedResponse, ProfileError, ServerError
from sottovoce.client.store import Store
from sottovoce.client.transparency import LogMonitor, Lookup
from sottovoce.client.transport import Transport
from sottovoce.crypto import dh
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.provisioning import (
    LinkingCode,
    channel_id_from_text,
    open_provisioning,
    seal_provisioning,
)
from sottovoce.protocol.public.device_list import (
    MAX_DEVICES,
    DeviceEntry,
    DeviceList,
    parse_device_list,
)

OWN_DEVICES = "own_devices"
_SELF = "self"
PROVISIONING_VERSION = 1
# How long the new device waits for an existing one to accept its code; each
# poll is one long-held request (server.limits.PROVISIONING_WAIT_S).
LINK_TIMEOUT_S = 600.0


def _today() -> int:
    return int(time.time() // 86_400)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: int
    added_day: int
    identity_key: bytes
    this_device: bool


@dataclass(frozen=True, slots=True)
class Provisioned:
    """What the new device received: enough to be a full device of the account."""

    address: str
    device_id: int
    account_key: SigningKey
    device_list: bytes
    contacts: list[dict[str, object]]
    transparency: dict[str, object]
    # This account's profile key and its contacts' (client.sealed): sealed sending
    # works from the first message.
    profile_keys: dict[str, object]


class PendingLink:
    """The new device's side: show :attr:`code`, then :meth:`wait` for the account."""

    def __init__(
        self,
        transport: Transport,
        code: LinkingCode,
        ephemeral: dh.DHKeyPair,
        identity: IdentityKeyPair,
    ) -> None:
        self._transport = transport
        self.code = code
        self._ephemeral = ephemeral
        self.identity = identity

    @property
    def code_text(self) -> str:
        return self.code.to_text()

    @classmethod
    async def begin(cls, transport: Transport) -> PendingLink:
        answer = await transport.request("POST", "/v1/provisioning")
        try:
            channel = channel_id_from_text(sj.string(answer, "channel", "provisioning"))
        except ProtocolError as exc:
            raise MalformedResponse(str(exc)) from exc
        identity = IdentityKeyPair.generate()
        ephemeral = dh.DHKeyPair.generate()
        return cls(
            transport, LinkingCode(channel, ephemeral.public, identity.public), ephemeral, identity
        )

    async def wait(self, timeout_s: float = LINK_TIMEOUT_S) -> Provisioned:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            answer = await self._transport.request(
                "GET", f"/v1/provisioning/{self.code.channel_text}"
            )
            if answer.get("message") is not None:
                return self._open(sj.binary(answer, "message", "provisioning"))
        raise ClientError("no device of the account accepted the linking code in time")

    async def close(self) -> None:
        await self._transport.close()

    def _open(self, sealed: bytes) -> Provisioned:
        try:
            data = sj.as_object(
                json.loads(open_provisioning(self.code, self._ephemeral, sealed)), "provisioning"
            )
            account_key = SigningKey.from_bytes(sj.binary(data, "account_key", "provisioning"))
            signed = sj.binary(data, "device_list", "provisioning")
            devices = parse_device_list(signed, account_key.public)
        except (ProtocolError, ValueError) as exc:
            raise ClientError(f"the provisioning message is not valid: {exc}") from exc
        address = sj.string(data, "address", "provisioning")
        device_id = sj.integer(data, "device_id", "provisioning")
        entry = devices.device(device_id)
        if devices.address != address or entry is None or entry.identity != self.identity.public:
            raise ClientError("the provisioning message does not list this device")
        return Provisioned(
            address,
            device_id,
            account_key,
            signed,
            [sj.as_object(c, "contact") for c in sj.as_list(data.get("contacts", []), "contacts")],
            sj.as_object(data.get("transparency", {}), "transparency"),
            sj.as_object(data.get("profile_keys", {}), "profile_keys"),
        )


class OwnDevices:
    """The account's device list as this device knows it, and changes to it."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        account_key: SigningKey,
        monitor: LogMonitor,
        alerts: Alerts,
    ) -> None:
        self._store = store
        self._transport = transport
        self._account_key = account_key
        self._monitor = monitor
        self._alerts = alerts

    def save(self, signed: bytes) -> None:
        with self._store.transaction():
            self._store.put(OWN_DEVICES, _SELF, signed)

    def held(self) -> DeviceList | None:
        """The list this device last accepted (None in a profile made before linking)."""
        signed = self._store.get(OWN_DEVICES, _SELF)
        if signed is None:
            return None
        try:
            return parse_device_list(signed, self._account_key.public)
        except ProtocolError as exc:
            raise ProfileError("this profile's own device list is damaged") from exc

    async def current(self) -> DeviceList:
        return self.held() or await self.refresh()

    async def refresh(self) -> DeviceList:
        """The list the server serves for this account, accepted only if the account key
        signed it, the log proves it, and it is not older than the one held."""
        address = self._transport.address
        handle, _, app = address.partition("@")
        view = await self._transport.request("GET", f"/v1/accounts/{app}/{handle}")
        signed = sj.binary(view, "device_list", "account")
        if sj.binary(view, "account_key", "account") != self._account_key.public:
            raise self._alerts.raise_alert(
                "key-mismatch", address, "the server serves another account key for your account"
            )
        try:
            devices = parse_device_list(signed, self._account_key.public)
        except ProtocolError as exc:
            raise self._alerts.raise_alert(
                "ghost-device",
                address,
                f"the server serves a device list for your account that your account key "
                f"did not sign ({exc})",
            ) from exc
        held = self.held()
        if held is not None and devices.version < held.version:
            raise self._alerts.raise_alert(
                "replay",
                address,
                f"the server serves your device list version {devices.version}, "
                f"older than version {held.version}",
            )
        await self._monitor.verify(
            Lookup(
                address,
                self._account_key.public,
                signed,
                devices,
                sj.child(view, "transparency", "account"),
            )
        )
        if held is None or devices.version > held.version:
            self.save(signed)
        return devices

    async def info(self) -> list[DeviceInfo]:
        return [
            DeviceInfo(
                d.device_id,
                d.added_day,
                d.identity.sign_public,
                d.device_id == self._transport.device_id,
            )
            for d in (await self.current()).devices
        ]

    async def publish(self, devices: DeviceList) -> bytes:
        signed = devices.sign(self._account_key)
        self._monitor.record_own_list(signed, devices.version)
        await self._transport.request(
            "PUT", "/v1/accounts/self/device-list", {"device_list": sj.b64(signed)}
        )
        self.save(signed)
        return signed

    async def remove(self, device_id: int) -> DeviceList:
        current = await self.refresh()
        if device_id == self._transport.device_id:
            raise ClientError("this device cannot remove itself; remove it from another device")
        if current.device(device_id) is None:
            raise ClientError(f"this account has no device {device_id}")
        new = DeviceList(
            current.address,
            current.version + 1,
            tuple(d for d in current.devices if d.device_id != device_id),
        )
        await self.publish(new)
        return new

    async def accept_link(
        self,
        code_text: str,
        store_contacts: list[dict[str, object]],
        profile_keys: dict[str, object],
    ) -> int:
        """Add the device of ``code_text`` to the account and provision it; its new id."""
        try:
            code = LinkingCode.from_text(code_text)
        except ProtocolError as exc:
            raise ClientError(f"that is not a valid linking code: {exc}") from exc
        current = await self.refresh()
        if len(current.devices) >= MAX_DEVICES:
            raise ClientError(f"an account has at most {MAX_DEVICES} devices")
        if any(d.identity == code.identity for d in current.devices):
            raise ClientError("that device is already linked")
        device_id = max(current.device_ids()) + 1
        new = DeviceList(
            current.address,
            current.version + 1,
            (*current.devices, DeviceEntry(device_id, code.identity, _today())),
        )
        signed = await self.publish(new)
        message = json.dumps(
            {
                "v": PROVISIONING_VERSION,
                "address": current.address,
                "device_id": device_id,
                "account_key": sj.b64(self._account_key.private_bytes()),
                "device_list": sj.b64(signed),
                "contacts": store_contacts,
                "profile_keys": profile_keys,
                "transparency": self._monitor.export(),
            },
            separators=(",", ":"),
        ).encode()
        try:
            await self._transport.request(
                "PUT",
                f"/v1/provisioning/{code.channel_text}",
                {"message": sj.b64(seal_provisioning(code, message))},
            )
        except ServerError as exc:
            raise ClientError(
                f"device {device_id} was added but could not be provisioned ({exc.detail}); "
                f"remove it with `sottovoce device remove {device_id}` and link again"
            ) from exc
        return device_id


def contact_records(store: Store) -> list[dict[str, object]]:
    """The pinned contacts, as the provisioning message carries them."""
    return store.all_json(CONTACT)
