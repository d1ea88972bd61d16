"""MLS group operations of Sottovoce, next to ts-mls (TypeScript, under Node).

Run ``python bench/mls.py`` (``--sizes 2,10`` for a quick run, ``--no-peer`` to skip
ts-mls). Each figure is one JSON object per line: ``{"bench": "mls", "metric": ...,
"value": ..., "unit": ..., "impl": ..., "group_size": ...}``. For every group size:

- ``update_commit_ms``: a member (alice) creates a Commit with no proposals and a
  path (an update of her own leaf and path);
- ``add_commit_ms``: alice creates a Commit adding one new member (no path: an Add
  needs none, §12.4) and the Welcome for it, which carries the ratchet tree;
- ``remove_commit_ms``: alice creates a Commit removing that member, with a path;
- ``process_commit_ms``: another member (bob) processes each of those commits
  (field ``operation``: update, add, remove);

each the best (minimum) of ``--rounds`` rounds: the machine is shared, and the
best round is the one least disturbed by other processes.
``protect_unprotect_msgs_per_s`` is alice protecting a 100-byte application
message and bob unprotecting it, in a group of two, best of three one-second runs;
``impl: "sottovoce-primitives"`` is the Ed25519 sign + verify alone, the ceiling,
and ``protect_unprotect_overhead_us`` what the pipeline adds to them per message
(``--messages-only`` measures just these).
ts-mls runs the same operations through ``bench/mls_peer.mjs``; the bench
installs it with npm into ``bench/.node/`` (git-ignored) on first use.

Two shapes of ratchet tree are measured (field ``tree``):

- ``fresh``: the group as one commit creates it: alice adds everyone at once and
  bob joins from the Welcome. Every parent node is blank, so a path is encrypted
  to about half the leaves: cost grows linearly. ts-mls is measured on this shape.
- ``steady``: the group after every member has committed once, as in a group in
  use with periodic self-updates: every parent node holds a key, so a path is
  encrypted to one node per level and cost grows with log2 of the group size.
  The bench builds this tree directly, merging one UpdatePath per even leaf
  (valid parent hashes, as real commits would leave them), and gives alice and
  bob the private keys of their paths.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sottovoce.crypto import dh, random, signing
from sottovoce.mls import key_schedule, transcript, tree_math
from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.group import Group, KeyPackageBundle
from sottovoce.mls.group.epoch import Epoch
from sottovoce.mls.ratchet_tree import RatchetTree
from sottovoce.mls.secret_tree import SecretTree
from sottovoce.mls.treekem import TreePrivateKeys
from sottovoce.mls.wire.group_context import GroupContext
from sottovoce.mls.wire.registry import LeafNodeSource

SUITE = 0x0001
PEER_DIR = Path(__file__).resolve().parent / ".node"
PEER_SCRIPT = Path(__file__).resolve().parent / "mls_peer.mjs"
# The peer's packages, pinned: ts-mls and the noble libraries its default crypto
# provider imports.
PEER_PACKAGES = (
    "ts-mls@1.6.4",
    "@noble/hashes@2.0.1",
    "@noble/curves@2.0.1",
    "@noble/ciphers@2.1.1",
)
MESSAGE = b"m" * 100
# As in bench/ratchet.py: three runs of at least a second each, best kept.
REPEATS = 3
MIN_RUN_SECONDS = 1.0
MESSAGE_BATCH = 100
TARGETS = {"protect_unprotect_msgs_per_s": 5_000.0}


FIGURES: list[dict[str, Any]] = []


def emit(metric: str, value: float, unit: str, impl: str = "sottovoce", **extra: Any) -> None:
    figure = {"bench": "mls", "metric": metric, "value": round(value, 3), "unit": unit}
    figure["impl"] = impl
    figure.update(extra)
    if impl == "sottovoce":
        FIGURES.append(figure)
    print(json.dumps(figure), flush=True)


def key_package(name: str) -> KeyPackageBundle:
    return KeyPackageBundle.create(SUITE, f"{name}@bench/1".encode(), signing.SigningKey.generate())


def build_group(size: int) -> tuple[Group, Group]:
    """Alice creates a group of ``size`` with one Add commit; bob joins by Welcome."""
    alice = Group.create(
        SUITE, f"bench-{size}".encode(), b"alice@bench/1", signing.SigningKey.generate()
    )
    bob = key_package("bob")
    others = [key_package(f"m{i}") for i in range(2, size)]
    bundle = alice.commit(add=[bob.key_package, *(kp.key_package for kp in others)])
    alice.merge_pending_commit()
    assert bundle.welcome is not None
    return alice, Group.join(bundle.welcome, bob)


def steady_group(size: int) -> tuple[Group, Group]:
    """Alice (leaf 0) and bob (leaf 1) in a ``size``-member group whose every parent
    node is set, as after each member committed once (see the module docstring)."""
    suite = cipher_suite(SUITE)
    group_id = f"steady-{size}".encode()
    bundles = [key_package(f"s{i}") for i in range(size)]
    tree = RatchetTree.with_one_member(suite, bundles[0].key_package.leaf_node)
    for bundle in bundles[1:]:
        tree.add_leaf(bundle.key_package.leaf_node)
    path_keys: dict[int, dh.DHKeyPair] = {}
    for leaf in range(0, size, 2):
        pairs = tree.filtered_path_and_copath(leaf)
        key_pairs = [suite.generate_hpke_key_pair() for _ in pairs]
        parent_hash = tree.merge_path(leaf, [pair.public for pair in key_pairs])
        old = tree.leaf(leaf)
        assert old is not None
        committed = replace(
            old, leaf_node_source=LeafNodeSource.COMMIT, lifetime=None, parent_hash=parent_hash
        ).signed(suite, bundles[leaf].signer, group_id, leaf)
        tree.set_leaf(leaf, committed)
        path_keys.update((parent, pair) for (parent, _), pair in zip(pairs, key_pairs, strict=True))
    tree.check_integrity()
    context = GroupContext(SUITE, group_id, 1, tree.tree_hash(), random.random_bytes(32))
    secrets = key_schedule.epoch_secrets(
        suite, random.random_bytes(32), bytes(32), bytes(32), bytes(context)
    )
    tag = transcript.confirmation_tag(
        suite, secrets.confirmation_key, context.confirmed_transcript_hash
    )
    interim = transcript.interim_transcript_hash(suite, context.confirmed_transcript_hash, tag)

    def member(leaf: int) -> Group:
        private = TreePrivateKeys(leaf, bundles[leaf].encryption_key_pair)
        nodes = [n for n in tree_math.direct_path(2 * leaf, tree.n_leaves) if n in path_keys]
        private.set_path(nodes, [path_keys[n] for n in nodes])
        epoch = Epoch(
            suite,
            context,
            tree.copy(),
            secrets,
            SecretTree(suite, secrets.encryption_secret, tree.n_leaves),
            private,
            interim,
            tag,
        )
        return Group(epoch, bundles[leaf].signer)

    return member(0), member(1)


def timed(operation: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = operation()
    return (time.perf_counter() - start) * 1000, result


def bench_size(size: int, rounds: int, shape: str) -> None:
    alice, bob = build_group(size) if shape == "fresh" else steady_group(size)
    figures: dict[str, list[float]] = {
        "update_commit_ms": [],
        "add_commit_ms": [],
        "remove_commit_ms": [],
    }
    processed: dict[str, list[float]] = {"update": [], "add": [], "remove": []}
    for round_index in range(rounds):
        elapsed, bundle = timed(lambda: alice.commit())
        figures["update_commit_ms"].append(elapsed)
        alice.merge_pending_commit()
        elapsed, _ = timed(lambda b=bundle: bob.process(b.commit))
        processed["update"].append(elapsed)

        joiner = key_package(f"joiner{round_index}")
        elapsed, bundle = timed(lambda j=joiner: alice.commit(add=[j.key_package], path=False))
        figures["add_commit_ms"].append(elapsed)
        alice.merge_pending_commit()
        elapsed, _ = timed(lambda b=bundle: bob.process(b.commit))
        processed["add"].append(elapsed)

        leaf = max(member.leaf_index for member in alice.members())
        elapsed, bundle = timed(lambda leaf=leaf: alice.commit(remove=[leaf]))
        figures["remove_commit_ms"].append(elapsed)
        alice.merge_pending_commit()
        elapsed, _ = timed(lambda b=bundle: bob.process(b.commit))
        processed["remove"].append(elapsed)
    for metric, values in figures.items():
        emit(metric, min(values), "ms", group_size=size, tree=shape)
    for operation, values in processed.items():
        emit(
            "process_commit_ms",
            min(values),
            "ms",
            group_size=size,
            tree=shape,
            operation=operation,
        )


def timed_rates(batch: Callable[[], None], per_batch: int) -> tuple[float, float]:
    """One run of at least a second: messages per second of wall-clock time and of
    this process's CPU time (which other processes on a loaded machine disturb less)."""
    done = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - wall) < MIN_RUN_SECONDS:
        batch()
        done += per_batch
    return done / elapsed, done / (time.process_time() - cpu)


def bench_messages() -> None:
    """Alice protects a 100-byte message, bob unprotects it, in a group of two; and the
    Ed25519 sign + verify each message needs, alone (``sottovoce-primitives``): no
    code on these wrappers can protect and unprotect faster than that. The two
    alternate, ``REPEATS`` runs each, so both see the same load; the best run counts.
    ``protect_unprotect_cpu_msgs_per_s`` are the same rates in CPU time."""
    alice, bob = build_group(2)
    key = signing.SigningKey.generate()
    verifier = signing.VerifyingKey(key.public)

    def exchange() -> None:
        for _ in range(MESSAGE_BATCH):
            bob.process(alice.protect(MESSAGE))

    def sign_and_verify() -> None:
        for _ in range(MESSAGE_BATCH):
            verifier.verify(key.sign(MESSAGE), MESSAGE)

    ours, floor = [], []
    for _ in range(REPEATS):
        ours.append(timed_rates(exchange, MESSAGE_BATCH))
        floor.append(timed_rates(sign_and_verify, MESSAGE_BATCH))
    for index, metric in enumerate(
        ("protect_unprotect_msgs_per_s", "protect_unprotect_cpu_msgs_per_s")
    ):
        rate, ceiling = max(r[index] for r in ours), max(r[index] for r in floor)
        target = TARGETS["protect_unprotect_msgs_per_s"]
        emit(metric, rate, "msg/s", target=target)
        emit(metric, ceiling, "msg/s", impl="sottovoce-primitives")
        # What the pipeline adds to the two signature operations (encoding, the two
        # AEADs, the ratchet step, decoding, checks): the cost this code controls.
        overhead = metric.replace("msgs_per_s", "overhead_us")
        emit(overhead, 1e6 / rate - 1e6 / ceiling, "us")


def install_peer() -> bool:
    """npm-install ts-mls into bench/.node once; False when Node or npm is missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("ts-mls: node or npm not found, peer skipped", file=sys.stderr)
        return False
    if not (PEER_DIR / "node_modules" / "ts-mls").is_dir():
        PEER_DIR.mkdir(exist_ok=True)
        (PEER_DIR / "package.json").write_text('{"private": true, "type": "module"}\n')
        subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund", *PEER_PACKAGES],
            cwd=PEER_DIR,
            check=True,
        )
    return True


def emit_ratios(ours: list[dict[str, Any]], peer: list[dict[str, Any]]) -> None:
    """Sottovoce / ts-mls for each figure both measured on the same tree shape: a
    speed-up factor (peer time / our time, our rate / peer rate)."""

    def key(figure: dict[str, Any]) -> tuple[Any, ...]:
        return (
            figure["metric"],
            figure.get("group_size"),
            figure.get("tree"),
            figure.get("operation"),
        )

    theirs = {key(figure): figure["value"] for figure in peer}
    for figure in ours:
        other = theirs.get(key(figure))
        if not other or not figure["value"]:
            continue
        faster = figure["value"] / other if figure["unit"] == "msg/s" else other / figure["value"]
        extra = {k: v for k, v in figure.items() if k in ("group_size", "tree", "operation")}
        emit(figure["metric"], faster, "x", impl="ratio sottovoce/ts-mls", **extra)


def run_peer(sizes: list[int], rounds: int, messages: int) -> list[dict[str, Any]]:
    shutil.copyfile(PEER_SCRIPT, PEER_DIR / PEER_SCRIPT.name)
    output = subprocess.run(
        ["node", PEER_SCRIPT.name, json.dumps(sizes), str(rounds), str(messages)],
        cwd=PEER_DIR,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures = [json.loads(line) for line in output.splitlines() if line.strip()]
    for figure in figures:
        print(json.dumps(figure), flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,10,100,1000")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--messages", type=int, default=300, help="ts-mls messages")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument(
        "--messages-only", action="store_true", help="only protect_unprotect, no peer"
    )
    args = parser.parse_args()
    if args.messages_only:
        bench_messages()
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    for shape in ("fresh", "steady"):
        for size in sizes:
            bench_size(size, args.rounds, shape)
    bench_messages()
    if not args.no_peer and install_peer():
        emit_ratios(FIGURES, run_peer(sizes, args.rounds, args.messages))


if __name__ == "__main__":
    main()
