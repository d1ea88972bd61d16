"""The key directory: the transparency log wired to accounts and device lists.

Every account key and every device list the server accepts is appended to the
log in the same database transaction that makes it the account's; one head is
signed per epoch (``Settings.transparency.epoch_interval_s``) whenever entries
were added, and at once when a lookup needs an entry no head covers yet. Every
lookup answer carries the proofs a client checks (docs/transparency.md).

One process writes the log (an ``asyncio.Lock`` orders appends); node hashes are
kept in memory and rebuilt from the stored leaves when the server starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from sottovoce.crypto import signing
from sottovoce.protocol.public.merkle import ConsistencyProof, InclusionProof
from sottovoce.protocol.public.transparency_entry import (
    AccountKeyEntry,
    DeviceListEntry,
    account_commitment,
    device_list_digest,
)
from sottovoce.protocol.public.tree_head import SignedTreeHead, parse_signed_tree_head
from sottovoce.server.settings import Transparency
from sottovoce.server.transparency.inmem import InMemoryLeafStore, InMemoryNodeStore
from sottovoce.server.transparency.log import TransparencyLog, new_account_salt
from sottovoce.server.transparency.tree import MerkleTree
from sottovoce.storage.transparency import LoggedAccount, NewDevice, TransparencyStore

log = logging.getLogger("sottovoce.server.transparency")


@dataclass(frozen=True, slots=True)
class Proven:
    """One logged entry with its proof at ``head``."""

    leaf: bytes
    proof: InclusionProof


@dataclass(frozen=True, slots=True)
class AccountProof:
    """What a lookup answer carries so the client can check the key and list it got."""

    salt: bytes
    head: SignedTreeHead
    account_key: Proven
    device_list: Proven


def _now_ms() -> int:
    return int(time.time() * 1000)


def configured_key(settings: Transparency) -> signing.SigningKey | None:
    """The log key from ``settings.key_file`` (32 raw bytes), if the operator keeps one
    outside the database; otherwise None, and the database holds it."""
    if settings.key_file is None:
        return None
    return signing.SigningKey.from_bytes(settings.key_file.read_bytes())


class KeyDirectory:
    def __init__(self, store: TransparencyStore, log_: TransparencyLog) -> None:
        self._store = store
        self._log = log_
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, store: TransparencyStore, key: signing.SigningKey | None) -> KeyDirectory:
        if key is None:
            key = signing.SigningKey.from_bytes(
                await store.signing_key(signing.SigningKey.generate().private_bytes())
            )
        leaves = InMemoryLeafStore()
        leaves.extend(await store.leaves())
        tree = MerkleTree(leaves, InMemoryNodeStore())
        raw_head = await store.latest_head()
        head = None if raw_head is None else parse_signed_tree_head(raw_head, key.public)
        directory = cls(store, TransparencyLog(tree, key, head))
        await directory._log_unlogged()
        return directory

    @property
    def public_key(self) -> bytes:
        return self._log.public_key

    @property
    def size(self) -> int:
        return self._log.size

    async def _log_unlogged(self) -> None:
        """Accounts registered or changed right before a crash, before their entries
        were written: logged now, so nothing the server serves is missing."""
        for account in await self._store.unlogged_accounts():
            logged = await self._store.logged_account(account.account_id)
            salt = None if logged is not None else new_account_salt()
            await self._log_account(
                account.account_id,
                account.address,
                account.account_key,
                account.device_list,
                account.version,
                salt,
                None if logged is None else logged.salt,
            )

    async def account_created(
        self, account_id: int, address: str, account_key: bytes, device_list: bytes, version: int
    ) -> None:
        await self._log_account(
            account_id, address, account_key, device_list, version, new_account_salt(), None
        )

    async def _log_account(
        self,
        account_id: int,
        address: str,
        account_key: bytes,
        device_list: bytes,
        version: int,
        new_salt: bytes | None,
        old_salt: bytes | None,
    ) -> None:
        salt = new_salt or old_salt
        assert salt is not None
        commitment = account_commitment(address, salt)
        day = _now_ms() // 86_400_000
        async with self._lock:
            start = self._log.size
            entries = []
            if new_salt is not None:
                entries.append(AccountKeyEntry(commitment, day, account_key))
            entries.append(
                DeviceListEntry(commitment, day, version, device_list_digest(device_list))
            )
            encoded = [e.to_bytes() for e in entries]
            await self._store.log_account(
                account_id,
                new_salt,
                start,
                encoded,
                start if new_salt is not None else None,
                device_list,
                version,
                start + len(entries) - 1,
            )
            self._log.extend(entries)

    async def replace_device_list(
        self,
        account_id: int,
        address: str,
        *,
        expected_version: int,
        device_list: bytes,
        version: int,
        added: list[NewDevice],
        removed: list[int],
        day: int,
    ) -> None:
        logged = await self._store.logged_account(account_id)
        if logged is None:
            raise RuntimeError(f"account {account_id} has no log entries")
        entry = DeviceListEntry(
            account_commitment(address, logged.salt), day, version, device_list_digest(device_list)
        )
        async with self._lock:
            leaf = self._log.size
            await self._store.replace_device_list(
                account_id,
                expected_version=expected_version,
                device_list=device_list,
                version=version,
                added=added,
                removed=removed,
                day=day,
                leaf=leaf,
                entry=entry.to_bytes(),
            )
            self._log.append(entry)

    # -- heads -------------------------------------------------------------------

    async def publish_if_changed(self) -> SignedTreeHead | None:
        """End the epoch: sign a head if entries were appended since the last one."""
        async with self._lock:
            latest = self._log.latest_head
            if latest is not None and latest.tree_size == self._log.size:
                return None
            head = self._log.publish(max(_now_ms(), latest.timestamp_ms if latest else 0))
            await self._store.store_head(head.epoch, head.to_bytes())
            return head

    async def head_covering(self, size: int) -> SignedTreeHead:
        """The latest head, first ending the epoch if it covers fewer than ``size`` entries."""
        latest = self._log.latest_head
        if latest is None or latest.tree_size < size:
            await self.publish_if_changed()
            latest = self._log.latest_head
        assert latest is not None
        return latest

    async def latest_head(self) -> SignedTreeHead:
        return await self.head_covering(0)

    async def head(self, epoch: int) -> SignedTreeHead | None:
        raw = await self._store.head(epoch)
        return None if raw is None else parse_signed_tree_head(raw, self.public_key)

    async def publish_forever(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.publish_if_changed()
            except Exception:  # one failed epoch must not stop the next
                log.exception("signing a tree head failed")

    # -- proofs --------------------------------------------------------------------

    async def account_proof(self, account_id: int) -> AccountProof:
        logged = await self._store.logged_account(account_id)
        if logged is None:
            raise RuntimeError(f"account {account_id} has no log entries")
        head = await self.head_covering(max(logged.key_leaf, logged.list_leaf) + 1)
        return AccountProof(
            logged.salt,
            head,
            self._proven(logged.key_leaf, head),
            self._proven(logged.list_leaf, head),
        )

    async def logged(self, account_id: int) -> LoggedAccount | None:
        return await self._store.logged_account(account_id)

    def _proven(self, index: int, head: SignedTreeHead) -> Proven:
        return Proven(self._log.leaf(index), self._log.inclusion_proof(index, head.tree_size))

    def consistency_proof(self, first: int, second: int) -> ConsistencyProof:
        return self._log.consistency_proof(first, second)

    def leaves(self, start: int, end: int) -> list[bytes]:
        return [self._log.leaf(i) for i in range(start, end)]

    async def device_list_at(self, account_id: int, version: int) -> bytes | None:
        return await self._store.device_list_at(account_id, version)
