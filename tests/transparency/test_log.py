"""The server's transparency log, seen from the operator, a client looking up a contact,
and an account owner monitoring their own entries."""

from __future__ import annotations

import pytest

from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.merkle import InclusionProof
from sottovoce.protocol.public.transparency_entry import (
    AccountClosedEntry,
    AccountKeyEntry,
    DeviceListEntry,
    account_commitment,
    device_list_digest,
    parse_entry,
    verify_account_commitment,
)
from sottovoce.protocol.public.tree_head import (
    SignedTreeHead,
    TreeHead,
    parse_signed_tree_head,
    verify_consistent_heads,
)
from sottovoce.server.transparency.errors import ClockWentBackwards, StoreCorrupted
from sottovoce.server.transparency.inmem import InMemoryLeafStore, InMemoryNodeStore
from sottovoce.server.transparency.log import FIRST_EPOCH, TransparencyLog, new_account_salt
from sottovoce.server.transparency.tree import MerkleTree

LOG_KEY = SigningKey.generate()
DAY = 20_415


def new_log() -> tuple[TransparencyLog, InMemoryLeafStore, InMemoryNodeStore]:
    leaves, nodes = InMemoryLeafStore(), InMemoryNodeStore()
    return TransparencyLog(MerkleTree(leaves, nodes), LOG_KEY), leaves, nodes


def filler(count: int) -> list[AccountKeyEntry]:
    """Other accounts' key changes, so that proofs have something to cross."""
    return [
        AccountKeyEntry(account_commitment(f"user{i}@chat", new_account_salt()), DAY, bytes(32))
        for i in range(count)
    ]


def test_salts_are_fresh() -> None:
    salts = {new_account_salt() for _ in range(100)}
    assert len(salts) == 100
    assert {len(salt) for salt in salts} == {32}


def test_epochs_count_up_and_heads_verify() -> None:
    log, _, _ = new_log()
    assert log.latest_head is None
    first = log.publish(1_000)
    assert (first.epoch, first.tree_size) == (FIRST_EPOCH, 0)
    assert log.extend(filler(5)) == range(5)
    second = log.publish(2_000)
    assert (second.epoch, second.tree_size) == (FIRST_EPOCH + 1, 5)
    assert log.latest_head == second
    same_time = log.publish(2_000)
    assert (same_time.epoch, same_time.tree_size) == (FIRST_EPOCH + 2, 5)
    assert parse_signed_tree_head(second.to_bytes(), log.public_key) == second
    verify_consistent_heads(first, second, log.consistency_proof(0, 5))
    verify_consistent_heads(second, same_time, log.consistency_proof(5, 5))


def test_a_clock_that_goes_backwards_cannot_sign() -> None:
    log, _, _ = new_log()
    log.publish(5_000)
    with pytest.raises(ClockWentBackwards, match="time 4999 is before epoch 1's 5000"):
        log.publish(4_999)
    assert log.latest_head is not None and log.latest_head.epoch == FIRST_EPOCH


def test_contact_lookup_verifies_key_and_device_list() -> None:
    """What a client checks before encrypting to bob@chat."""
    log, _, _ = new_log()
    bob_key = SigningKey.generate()
    bob_salt = new_account_salt()
    bob = account_commitment("bob@chat", bob_salt)
    device_list = b"bob's signed device list, version 1"
    log.extend(filler(17))
    key_index = log.append(AccountKeyEntry(bob, DAY, bob_key.public))
    list_index = log.append(DeviceListEntry(bob, DAY, 1, device_list_digest(device_list)))
    log.extend(filler(9))
    head = parse_signed_tree_head(log.publish(10_000).to_bytes(), LOG_KEY.public)

    # The server answers with the salt, the entries, and inclusion proofs at the head.
    for index in (key_index, list_index):
        entry_bytes = log.leaf(index)
        head.verify_inclusion(entry_bytes, log.inclusion_proof(index, head.tree_size))
        entry = parse_entry(entry_bytes)
        verify_account_commitment(entry.account, "bob@chat", bob_salt)
    key_entry = log.entry(key_index)
    assert isinstance(key_entry, AccountKeyEntry) and key_entry.account_key == bob_key.public
    list_entry = log.entry(list_index)
    assert isinstance(list_entry, DeviceListEntry)
    list_entry.verify_device_list(device_list)


def test_owner_finds_a_ghost_device_list_by_scanning_for_their_commitment() -> None:
    """A device list the owner never published is in the log under their name: detected."""
    log, _, _ = new_log()
    alice_salt = new_account_salt()
    alice = account_commitment("alice@chat", alice_salt)
    published = {device_list_digest(b"alice v1")}
    log.append(DeviceListEntry(alice, DAY, 1, device_list_digest(b"alice v1")))
    log.extend(filler(6))
    log.append(DeviceListEntry(alice, DAY, 2, device_list_digest(b"v2 with a ghost")))
    log.publish(1)

    mine = [log.entry(i) for i in range(log.size) if log.entry(i).account == alice]
    unexplained = [e for e in mine if isinstance(e, DeviceListEntry) and e.digest not in published]
    assert [e.version for e in unexplained] == [2]


def test_reopening_checks_the_latest_head_against_the_stores() -> None:
    log, leaves, nodes = new_log()
    log.extend(filler(12))
    head = log.publish(1)
    log.extend(filler(3))

    resumed = TransparencyLog(MerkleTree(leaves, nodes), LOG_KEY, head)
    assert resumed.publish(2).epoch == head.epoch + 1

    with pytest.raises(StoreCorrupted, match="not signed by this log key"):
        TransparencyLog(MerkleTree(leaves, nodes), SigningKey.generate(), head)

    emptied = MerkleTree(InMemoryLeafStore(), InMemoryNodeStore())
    with pytest.raises(StoreCorrupted, match="covers 12 entries, the store holds 0"):
        TransparencyLog(emptied, LOG_KEY, head)

    other = MerkleTree(InMemoryLeafStore(), InMemoryNodeStore())
    other.extend([entry.to_bytes() for entry in filler(15)])
    with pytest.raises(StoreCorrupted, match="root at size 12 is not the one"):
        TransparencyLog(other, LOG_KEY, head)

    forged = TreeHead(head.epoch, head.timestamp_ms, 12, head.root_hash)
    with pytest.raises(StoreCorrupted, match="not signed"):
        TransparencyLog(MerkleTree(leaves, nodes), LOG_KEY, SignedTreeHead(forged, bytes(64)))


def test_an_unparsable_stored_entry_is_corruption() -> None:
    leaves, nodes = InMemoryLeafStore(), InMemoryNodeStore()
    tree = MerkleTree(leaves, nodes)
    tree.append(b"not an entry")
    log = TransparencyLog(tree, LOG_KEY)
    assert log.leaf(0) == b"not an entry"
    with pytest.raises(StoreCorrupted, match="stored entry 0 does not parse"):
        log.entry(0)


def test_closed_account_entries_are_logged_like_any_other() -> None:
    log, _, _ = new_log()
    carol = account_commitment("carol@chat", new_account_salt())
    index = log.append(AccountClosedEntry(carol, DAY))
    head = log.publish(1)
    head.verify_inclusion(log.leaf(index), log.inclusion_proof(index))
    assert log.entry(index) == AccountClosedEntry(carol, DAY)
    assert log.inclusion_proof(index) == InclusionProof(0, 1, ())
