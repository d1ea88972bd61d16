"""The key directory: the transparency log wired to accounts and device lists.

Every account key and every device list the server accepts is appended to the
log in the same database transaction that makes it the account's; one head is
signed per epoch (``Settings.transparency.epoch_interval_s``) whenever entries
were added, and at once when a lookup needs an entry no head covers yet. Every
lookup answer carries the proofs a client checks (docs/transparency.md).

The stored leaves are the log, shared by every node on the database; each node
keeps a copy of the tree in memory (node hashes rebuilt from the leaves when it
starts). Appends are serialised in the database (storage.transparency), which
gives each its indices; a node whose append lands past its copy reads the
leaves other nodes appended in between, and it catches up (only the leaves past
its size) before it signs or proves anything. One head per epoch: a node that
loses the epoch adopts the winner's head, so every node serves one chain of heads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sottovoce.crypto import signing
from sottovoce.protocol.public.merkle import ConsistencyProof, InclusionProof
from sottovoce.protocol.public.transparency_entry import (
    AccountKeyEntry,
    DeviceListEntry,
    TransparencyEntry,
    account_commitment,
    device_list_digest,
)
from sottovoce.protocol.public.tree_head import SignedTreeHead, parse_signed_tree_head
from sottovoce.server.settings import Transparency
from sottovoce.server.transparency.errors import StoreCorrupted
from sottovoce.server.transparency.inmem import InMemoryLeafStore, InMemoryNodeStore
from sottovoce.server.transparency.log import TransparencyLog, new_account_salt
from sottovoce.server.transparency.tree import MerkleTree
from sottovoce.storage.transparency import (
    EpochTaken,
    LoggedAccount,
    NewDevice,
    TransparencyStore,
)

# Stores entries in one transaction and returns the first one's index (None: another
# node had logged them, and nothing was written).
Write = Callable[[], Awaitable[int | None]]

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


# Heads signed in a row, each taken by another node at the same epoch, before a
# lookup that needs a newer head fails: each loss means another node signed.
SIGN_ATTEMPTS = 20


class KeyDirectory:
    def __init__(self, store: TransparencyStore, tree: MerkleTree, key: signing.SigningKey) -> None:
        self._store = store
        self._tree = tree
        self._key = key
        self._log = TransparencyLog(tree, key)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, store: TransparencyStore, key: signing.SigningKey | None) -> KeyDirectory:
        if key is None:
            key = signing.SigningKey.from_bytes(
                await store.signing_key(signing.SigningKey.generate().private_bytes())
            )
        directory = cls(store, MerkleTree(InMemoryLeafStore(), InMemoryNodeStore()), key)
        await directory.catch_up()
        await directory._log_unlogged()
        return directory

    async def catch_up(self) -> None:
        """Take in the entries and head other nodes (or an earlier run) stored."""
        async with self._lock:
            await self._catch_up_locked()

    async def _catch_up_locked(self) -> None:
        # The head first: every entry it covers was stored before it.
        raw_head = await self._store.latest_head()
        missing = await self._store.leaves(self._tree.size)
        if missing:
            self._tree.extend(missing)
        if raw_head is None:
            return
        head = parse_signed_tree_head(raw_head, self._key.public)
        held = self._log.latest_head
        if held is None or head.epoch > held.epoch:
            self._log = TransparencyLog(self._tree, self._key, head)

    async def _append(self, entries: list[TransparencyEntry], write: Write) -> None:
        """Store ``entries`` through ``write()``, then add them to the tree."""
        async with self._lock:
            start = await write()
            if start is None:
                return
            if start == self._log.size:
                self._log.extend(entries)
            else:  # other nodes appended since this one last looked: read theirs and ours
                self._tree.extend(await self._store.leaves(self._tree.size))
            if self._log.leaf(start) != entries[0].to_bytes():
                raise StoreCorrupted(f"log entry {start} is not the one just stored")

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
            if logged is not None and logged.list_version >= account.version:
                continue  # another node logged it meanwhile
            await self._log_account(
                account.account_id,
                account.address,
                account.account_key,
                account.device_list,
                account.version,
                new_account_salt() if logged is None else logged.salt,
                new_account=logged is None,
            )

    async def account_created(
        self, account_id: int, address: str, account_key: bytes, device_list: bytes, version: int
    ) -> None:
        await self._log_account(
            account_id,
            address,
            account_key,
            device_list,
            version,
            new_account_salt(),
            new_account=True,
        )

    async def _log_account(
        self,
        account_id: int,
        address: str,
        account_key: bytes,
        device_list: bytes,
        version: int,
        salt: bytes,
        *,
        new_account: bool,
    ) -> None:
        """Log the account's current device list, and its key and salt if it is new."""
        commitment = account_commitment(address, salt)
        day = _now_ms() // 86_400_000
        entries: list[TransparencyEntry] = []
        if new_account:
            entries.append(AccountKeyEntry(commitment, day, account_key))
        entries.append(DeviceListEntry(commitment, day, version, device_list_digest(device_list)))
        encoded = [e.to_bytes() for e in entries]

        async def write() -> int | None:
            return await self._store.log_account(
                account_id, salt if new_account else None, encoded, device_list, version
            )

        await self._append(entries, write)

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

        async def write() -> int:
            return await self._store.replace_device_list(
                account_id,
                expected_version=expected_version,
                device_list=device_list,
                version=version,
                added=added,
                removed=removed,
                day=day,
                entry=entry.to_bytes(),
            )

        await self._append([entry], write)

    # -- heads -------------------------------------------------------------------

    async def publish_if_changed(self) -> SignedTreeHead | None:
        """End the epoch: sign a head if entries were appended since the last one."""
        async with self._lock:
            await self._catch_up_locked()
            latest = self._log.latest_head
            if latest is not None and latest.tree_size == self._log.size:
                return None
            head = self._log.publish(max(_now_ms(), latest.timestamp_ms if latest else 0))
            try:
                await self._store.store_head(head.epoch, head.to_bytes())
            except EpochTaken:  # another node ended this epoch: its head is the one
                self._log = TransparencyLog(self._tree, self._key, latest)
                await self._catch_up_locked()
                return None
            return head

    async def head_covering(self, size: int) -> SignedTreeHead:
        """The latest head, first ending the epoch if it covers fewer than ``size`` entries."""
        await self.catch_up()
        for _ in range(SIGN_ATTEMPTS):
            latest = self._log.latest_head
            if latest is not None and latest.tree_size >= size:
                return latest
            await self.publish_if_changed()
        raise RuntimeError(f"no head covering {size} entries could be signed")

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
