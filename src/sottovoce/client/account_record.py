"""The account a local profile belongs to: written once, read on every open.

A profile holds one record naming its account (address, device id, server URL),
this device's identity key pair and the account key. ``write`` stores them for a
new account or a newly linked device, with the first prekeys, in one store
transaction; ``read`` brings them back and says what is damaged if anything is.
Registering a new account with the server (``register``) is here too: it is the
one request that runs before the profile is complete.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sottovoce.client import server_json as sj
from sottovoce.client.address import Address
from sottovoce.client.backoff import Backoff
from sottovoce.client.contacts import CONTACT
from sottovoce.client.devices import OWN_DEVICES
from sottovoce.client.errors import ClientError, NetworkError, ProfileError, ServerError
from sottovoce.client.outgoing import POST_ATTEMPTS
from sottovoce.client.prekey_supply import PreKeySupply
from sottovoce.client.store import Store
from sottovoce.client.transport import Transport
from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.public.device_list import DeviceEntry, DeviceList

FIRST_DEVICE_ID = 1

# Record kinds of the local store.
_PROFILE = "profile"
_IDENTITY = "identity"
_ACCOUNT_KEY = "account_key"
_SELF = "self"


def checked_server_url(url: str) -> str:
    """``url`` without surrounding spaces or a trailing slash; http(s) only."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ClientError(f"the server URL {url!r} must start with http:// or https://")
    return url


def first_device_list(address: str, identity: IdentityKeyPair) -> DeviceList:
    """A new account's device list: this device alone, added today."""
    today = int(time.time() // 86_400)
    return DeviceList(address, 1, (DeviceEntry(FIRST_DEVICE_ID, identity.public, today),))


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """What a profile says about its account: where to reach it, and who this device is."""

    address: str
    device_id: int
    server_url: str
    identity: IdentityKeyPair

    def transport(self) -> Transport:
        return Transport(self.server_url, self.address, self.device_id, self.identity.signing_key)


def write(
    store: Store,
    account: AccountRecord,
    account_key: SigningKey,
    signed_device_list: bytes,
    contacts: Sequence[dict[str, object]] = (),
) -> None:
    """The account record, keys, own device list, contacts (a linked device gets the
    account's) and the first prekeys, in one transaction."""
    with store.transaction():
        store.put_json(
            _PROFILE,
            _SELF,
            {
                "address": account.address,
                "device_id": account.device_id,
                "server_url": account.server_url,
            },
        )
        store.put(_IDENTITY, _SELF, account.identity.to_bytes())
        store.put(_ACCOUNT_KEY, _SELF, account_key.private_bytes())
        store.put(OWN_DEVICES, _SELF, signed_device_list)
        for record in contacts:
            store.put_json(CONTACT, str(record.get("address")), record)
        PreKeySupply.create_initial(store, account.identity)


def read(store: Store, profile_dir: Path) -> AccountRecord:
    """The profile's account; :class:`ProfileError` if it has none or it is damaged."""
    profile = store.get_json(_PROFILE, _SELF)
    raw_identity = store.get(_IDENTITY, _SELF)
    if profile is None or raw_identity is None:
        raise ProfileError(f"the profile in {profile_dir} has no account")
    try:
        identity = IdentityKeyPair.from_bytes(raw_identity)
    except ProtocolError as exc:
        raise ProfileError(f"the identity in {profile_dir} is damaged") from exc
    address, device_id, server_url = (
        profile.get(name) for name in ("address", "device_id", "server_url")
    )
    if (
        not isinstance(address, str)
        or not isinstance(device_id, int)
        or not isinstance(server_url, str)
    ):
        raise ProfileError(f"the account record in {profile_dir} is damaged")
    return AccountRecord(address, device_id, server_url, identity)


def account_key(store: Store) -> SigningKey:
    """The account key every device of the account holds (it signs device lists)."""
    raw = store.get(_ACCOUNT_KEY, _SELF)
    if raw is None:
        raise ProfileError(f"the profile in {store.directory} has no account key")
    return SigningKey.from_bytes(raw)


async def register(transport: Transport, payload: dict[str, object], account_key: bytes) -> None:
    """``POST /v1/accounts``, signed by the new device's key (proof of possession).

    If the answer is lost the request is sent again; the server then says
    ``handle-taken``, and the account is ours if it holds our account key.
    """
    backoff = Backoff()
    sent = False
    for attempt in range(POST_ATTEMPTS):
        try:
            await transport.request("POST", "/v1/accounts", payload)
            return
        except NetworkError:
            if attempt == POST_ATTEMPTS - 1:
                raise
            sent = True
            await asyncio.sleep(backoff.next_delay())
        except ServerError as exc:
            if sent and exc.problem_type == "handle-taken":
                address = Address.parse(transport.address)
                view = await transport.request(
                    "GET", f"/v1/accounts/{address.app}/{address.handle}"
                )
                if sj.binary(view, "account_key", "account") == account_key:
                    return
            raise
