"""Key-transparency log throughput and proof costs of Sottovoce at 1,000,000 entries.

Run ``python bench/transparency.py``. Each figure is one JSON object per line:
``{"bench": "transparency", "metric": ..., "value": ..., "unit": ..., "impl": "sottovoce"}``;
rows with a target carry it and whether it was met. The run takes well under two
minutes on one core and holds about 300 MB at its peak.

What each metric times:

- ``append_per_s``: ``TransparencyLog.extend`` of 1,000,000 key-change entries in
  batches of ``BATCH`` (one server transaction's worth), into in-memory stores:
  encoding each entry, its leaf hash, every node hash, and the store writes.
  The entries (a device-list or account-key change for one of ``ACCOUNTS``
  accounts, each with its real HMAC commitment) are built untimed.
- ``append_single_per_s``: the same, one ``TransparencyLog.append`` call per
  entry, for the first ``SINGLE_APPENDS`` entries of a fresh log.
- ``inclusion_proof_ms`` / ``consistency_proof_ms``: generating a proof on the
  1,000,000-entry log, for ``SAMPLES`` random leaves / random earlier sizes.
- ``inclusion_verify_ms``: what a client does with an entry, a proof and a
  signed head: ``SignedTreeHead.verify_inclusion`` (leaf hash plus path).
- ``consistency_verify_ms``: ``verify_consistent_heads`` between a signed head
  at a random earlier size and the head at 1,000,000.
- ``*_proof_bytes``: the proofs' wire size (``to_bytes``), mean and maximum.
- ``tree_head_sign_ms`` / ``tree_head_verify_ms``: signing a head, and parsing
  one with its Ed25519 signature check.

Proof timings are the mean over ``SAMPLES`` proofs, best of ``REPEATS`` rounds.
"""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

from sottovoce.crypto.signing import SigningKey
from sottovoce.protocol.public.merkle import ConsistencyProof, InclusionProof
from sottovoce.protocol.public.transparency_entry import (
    AccountKeyEntry,
    DeviceListEntry,
    TransparencyEntry,
    account_commitment,
    device_list_digest,
)
from sottovoce.protocol.public.tree_head import (
    SignedTreeHead,
    TreeHead,
    parse_signed_tree_head,
    verify_consistent_heads,
)
from sottovoce.server.transparency.inmem import InMemoryLeafStore, InMemoryNodeStore
from sottovoce.server.transparency.log import TransparencyLog, new_account_salt
from sottovoce.server.transparency.tree import MerkleTree

ENTRIES = 1_000_000
# A server commits the entries of one request burst per transaction.
BATCH = 1_000
# Ten key changes per account on average: a realistic mix of repeated commitments.
ACCOUNTS = 100_000
SINGLE_APPENDS = 100_000
SAMPLES = 2_000
REPEATS = 3
DAY = 20_415
TARGETS = {
    "append_per_s": 20_000.0,
    "inclusion_proof_ms": 1.0,
    "inclusion_verify_ms": 1.0,
    "consistency_proof_ms": 1.0,
    "consistency_verify_ms": 1.0,
}


def emit(**row: Any) -> None:
    print(json.dumps({"bench": "transparency", **row}), flush=True)


def result(metric: str, value: float, unit: str, **extra: Any) -> None:
    row: dict[str, Any] = {"metric": metric, "value": round(value, 4), "unit": unit}
    if metric in TARGETS:
        target = TARGETS[metric]
        met = value >= target if unit.endswith("/s") else value <= target
        row |= {"target": target, "meets_target": met}
    emit(**row, impl="sottovoce", entries=ENTRIES, **extra)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def entry_batches(
    accounts: Sequence[bytes], count: int
) -> Callable[[int], list[TransparencyEntry]]:
    """Entry ``i`` is a key change of account ``i % len(accounts)``; built on demand, untimed."""
    account_key = SigningKey.generate().public

    def batch(start: int) -> list[TransparencyEntry]:
        entries: list[TransparencyEntry] = []
        for i in range(start, min(start + BATCH, count)):
            account = accounts[i % len(accounts)]
            if i % 5:
                digest = device_list_digest(i.to_bytes(8, "big"))
                entries.append(DeviceListEntry(account, DAY, i // len(accounts) + 1, digest))
            else:
                entries.append(AccountKeyEntry(account, DAY, account_key))
        return entries

    return batch


def mean_ms(operation: Callable[[int], object], samples: int) -> float:
    """Best of REPEATS rounds of the mean time of ``operation(i)`` for i in range(samples)."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for i in range(samples):
            operation(i)
        best = min(best, (time.perf_counter() - started) / samples)
    return best * 1000


def main() -> None:
    emit(
        metric="environment",
        value=None,
        unit=None,
        impl="sottovoce",
        python=platform.python_version(),
        cpu=cpu_model(),
        nproc=os.cpu_count(),
    )
    accounts = [account_commitment(f"user{i}@chat", new_account_salt()) for i in range(ACCOUNTS)]
    make_batch = entry_batches(accounts, ENTRIES)
    log_key = SigningKey.generate()

    single = TransparencyLog(MerkleTree(InMemoryLeafStore(), InMemoryNodeStore()), log_key)
    spent = 0.0
    for start in range(0, SINGLE_APPENDS, BATCH):
        entries = make_batch(start)
        started = time.perf_counter()
        for entry in entries:
            single.append(entry)
        spent += time.perf_counter() - started
    result("append_single_per_s", SINGLE_APPENDS / spent, "append/s", appends=SINGLE_APPENDS)
    del single

    tree = MerkleTree(InMemoryLeafStore(), InMemoryNodeStore())
    log = TransparencyLog(tree, log_key)
    spent = 0.0
    for start in range(0, ENTRIES, BATCH):
        entries = make_batch(start)
        started = time.perf_counter()
        log.extend(entries)
        spent += time.perf_counter() - started
    result("append_per_s", ENTRIES / spent, "append/s", batch=BATCH, seconds=round(spent, 2))
    result("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")

    rng = random.Random(9162)
    head = log.publish(1_700_000_000_000)
    indices = [rng.randrange(ENTRIES) for _ in range(SAMPLES)]
    leaves = [log.leaf(i) for i in indices]
    inclusion: list[InclusionProof] = [log.inclusion_proof(i) for i in indices]
    result("inclusion_proof_ms", mean_ms(lambda k: log.inclusion_proof(indices[k]), SAMPLES), "ms")
    result(
        "inclusion_verify_ms",
        mean_ms(lambda k: head.verify_inclusion(leaves[k], inclusion[k]), SAMPLES),
        "ms",
    )
    sizes = [len(proof.to_bytes()) for proof in inclusion]
    result("inclusion_proof_bytes", sum(sizes) / len(sizes), "bytes", max=max(sizes))

    firsts = [rng.randrange(1, ENTRIES) for _ in range(SAMPLES)]
    older: list[SignedTreeHead] = [
        TreeHead(0, 0, first, tree.root(first)).sign(log_key) for first in firsts
    ]
    consistency: list[ConsistencyProof] = [log.consistency_proof(first) for first in firsts]
    result(
        "consistency_proof_ms", mean_ms(lambda k: log.consistency_proof(firsts[k]), SAMPLES), "ms"
    )
    result(
        "consistency_verify_ms",
        mean_ms(lambda k: verify_consistent_heads(older[k], head, consistency[k]), SAMPLES),
        "ms",
    )
    sizes = [len(proof.to_bytes()) for proof in consistency]
    result("consistency_proof_bytes", sum(sizes) / len(sizes), "bytes", max=max(sizes))

    head_bytes = head.to_bytes()
    result(
        "tree_head_sign_ms",
        mean_ms(lambda k: TreeHead(k, k, ENTRIES, head.root_hash).sign(log_key), SAMPLES),
        "ms",
    )
    result(
        "tree_head_verify_ms",
        mean_ms(lambda _: parse_signed_tree_head(head_bytes, log_key.public), SAMPLES),
        "ms",
    )


if __name__ == "__main__":
    main()
