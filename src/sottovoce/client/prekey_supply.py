"""Keeping the server stocked with this device's public prekeys (PQXDH §2.4, §3.2).

The private halves are saved in the local store *before* the public halves are
uploaded, so the server never hands out a key this device cannot answer. Each
upload is computed from the server's own count (``GET /v1/devices/self/prekeys``),
so an upload lost in transit, or an account registered while the first upload
failed, is repaired by the next call: whatever the server lacks is sent.
"""

from __future__ import annotations

import asyncio

from sottovoce.client import server_json as sj
from sottovoce.client.errors import ProfileError
from sottovoce.client.prekey_store import StorePreKeys
from sottovoce.client.server_json import b64
from sottovoce.client.store import Store
from sottovoce.client.transport import Transport
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import (
    KemPreKey,
    generate_kem_prekeys,
    generate_one_time_prekeys,
    generate_signed_prekey,
)

# Signal uploads one-time prekeys 100 at a time; the server reports prekeys_low
# below 20 (server.limits.PREKEY_LOW_WATERMARK), so a burst of new contacts
# between two checks rarely falls back to the last-resort KEM key.
PREKEY_BATCH = 100
PREKEYS_PATH = "/v1/devices/self/prekeys"
_IDS_KIND = "prekey_ids"
_IDS_NAME = "self"
_FIRST_KEY_ID = 1


def _signed_json(key_id: int, public: bytes, signature: bytes) -> dict[str, object]:
    return {"id": key_id, "public": b64(public), "signature": b64(signature)}


class PreKeySupply:
    def __init__(self, store: Store, transport: Transport, identity: IdentityKeyPair) -> None:
        self.keys = StorePreKeys(store)
        self._store = store
        self._transport = transport
        self._identity = identity
        # A listener and a fetch may both hear prekeys_low; one top-up is enough.
        self._lock = asyncio.Lock()

    @staticmethod
    def create_initial(store: Store, identity: IdentityKeyPair) -> None:
        """Generate the signed X25519 prekey and the last-resort ML-KEM-1024 prekey of
        a new device, inside the caller's transaction."""
        keys = StorePreKeys(store)
        signed = generate_signed_prekey(identity, _FIRST_KEY_ID)
        (last_resort,) = generate_kem_prekeys(identity, _FIRST_KEY_ID, 1, last_resort=True)
        keys.save_signed(signed)
        keys.save_kem(last_resort)
        store.put_json(
            _IDS_KIND,
            _IDS_NAME,
            {
                "signed": signed.key_id,
                "last_resort": last_resort.key_id,
                "next_one_time": _FIRST_KEY_ID,
                "next_kem": last_resort.key_id + 1,
            },
        )

    def _ids(self) -> dict[str, int]:
        record = self._store.get_json(_IDS_KIND, _IDS_NAME) or {}
        names = ("signed", "last_resort", "next_one_time", "next_kem")
        ids = {name: record.get(name) for name in names}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in ids.values()):
            raise ProfileError("the prekey counters of the local store are missing or damaged")
        return {name: int(str(value)) for name, value in ids.items()}

    async def replenish(self) -> None:
        """Upload whatever the server lacks: the signed prekey, the last-resort KEM
        key, and one-time keys of each kind up to :data:`PREKEY_BATCH`."""
        async with self._lock:
            status = await self._transport.request("GET", PREKEYS_PATH)
            where = "prekey status"
            held_ec = sj.integer(status, "one_time_prekeys", where)
            held_kem = sj.integer(status, "kem_one_time_prekeys", where)
            ids = self._ids()
            body: dict[str, object] = {}
            if sj.optional_integer(status, "signed_prekey_id", where) != ids["signed"]:
                signed = self.keys.signed_prekey(ids["signed"])
                body["signed_prekey"] = _signed_json(signed.key_id, signed.public, signed.signature)
            if sj.optional_integer(status, "kem_last_resort_id", where) != ids["last_resort"]:
                last_resort = self.keys.kem_prekey(ids["last_resort"])
                body["kem_last_resort"] = _signed_json(
                    last_resort.key_id, last_resort.public, last_resort.signature
                )
            need_ec = max(0, PREKEY_BATCH - held_ec)
            need_kem = max(0, PREKEY_BATCH - held_kem)
            if not body and not need_ec and not need_kem:
                return
            one_time = generate_one_time_prekeys(ids["next_one_time"], need_ec) if need_ec else []
            kem_keys: list[KemPreKey] = (
                generate_kem_prekeys(self._identity, ids["next_kem"], need_kem) if need_kem else []
            )
            with self._store.transaction():
                for key in one_time:
                    self.keys.save_one_time(key)
                for kem_key in kem_keys:
                    self.keys.save_kem(kem_key)
                self._store.put_json(
                    _IDS_KIND,
                    _IDS_NAME,
                    {
                        **ids,
                        "next_one_time": ids["next_one_time"] + need_ec,
                        "next_kem": ids["next_kem"] + need_kem,
                    },
                )
            body["one_time_prekeys"] = [{"id": k.key_id, "public": b64(k.public)} for k in one_time]
            body["kem_one_time_prekeys"] = [
                _signed_json(k.key_id, k.public, k.signature) for k in kem_keys
            ]
            await self._transport.request("PUT", PREKEYS_PATH, body)
