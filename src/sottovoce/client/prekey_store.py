"""The protocol's PreKeyStore, backed by the encrypted local store."""

from __future__ import annotations

from sottovoce.client.store import Store
from sottovoce.protocol.errors import UnknownPreKey
from sottovoce.protocol.prekeys import KemPreKey, OneTimePreKey, SignedPreKey

SIGNED = "signed_prekey"
ONE_TIME = "one_time_prekey"
KEM = "kem_prekey"


class StorePreKeys:
    """Private prekeys by id; satisfies ``sottovoce.protocol.prekeys.PreKeyStore``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def _load(self, kind: str, key_id: int) -> bytes:
        raw = self._store.get(kind, str(key_id))
        if raw is None:
            raise UnknownPreKey(f"no {kind.replace('_', ' ')} with id {key_id}")
        return raw

    def signed_prekey(self, key_id: int) -> SignedPreKey:
        return SignedPreKey.from_bytes(self._load(SIGNED, key_id))

    def one_time_prekey(self, key_id: int) -> OneTimePreKey:
        return OneTimePreKey.from_bytes(self._load(ONE_TIME, key_id))

    def kem_prekey(self, key_id: int) -> KemPreKey:
        return KemPreKey.from_bytes(self._load(KEM, key_id))

    def save_signed(self, key: SignedPreKey) -> None:
        self._store.put(SIGNED, str(key.key_id), key.to_bytes())

    def save_one_time(self, key: OneTimePreKey) -> None:
        self._store.put(ONE_TIME, str(key.key_id), key.to_bytes())

    def save_kem(self, key: KemPreKey) -> None:
        self._store.put(KEM, str(key.key_id), key.to_bytes())

    def consume(self, one_time_id: int | None, kem_id: int, kem_last_resort: bool) -> None:
        """Delete the one-time keys a PQXDH responder used (PQXDH §3.4). The last-resort
        KEM key (PQSPK_B, §2.4) is the fallback for when one-time keys run out, so it
        stays until replaced."""
        if one_time_id is not None:
            self._store.delete(ONE_TIME, str(one_time_id))
        if not kem_last_resort:
            self._store.delete(KEM, str(kem_id))
