"""The secret tree and its per-sender hash ratchets (RFC 9420 §9).

From the epoch's ``encryption_secret`` at the root, each node's secret derives its
children's; each leaf's secret starts two hash ratchets, one for handshake and one
for application messages, whose generations yield one key and nonce each.

§9.2 deletion schedule: a node's secret is dropped as soon as its children exist,
a leaf's as soon as its ratchets exist, and a ratchet's secret as soon as the next
one is derived. A key is handed out once and then forgotten, so no (key, nonce)
pair can protect two messages and a replayed message finds no key. Keys skipped by
out-of-order delivery are kept in a small bounded window.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sottovoce.mls import tree_math
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import GenerationUnavailable, ValidationError

# How many generations behind the newest one received a late message may be: keys
# of skipped generations in that window are kept, older ones erased. The delivery
# service orders handshake messages, and application messages reorder only across
# the few in flight at once; 32 covers a burst far beyond that while bounding the
# keys a ratchet holds to 32 x (Nk + Nn) bytes.
OUT_OF_ORDER_TOLERANCE = 32

# How far past the next expected generation a message may claim to be. Each step
# costs one KDF call, so 1,000 bounds the work of one forged or damaged header to
# about a millisecond while tolerating a large burst of lost messages (the same
# bound OpenMLS uses by default).
MAX_FORWARD_DISTANCE = 1_000

# §6.3.2 generation is a uint32: a ratchet has no key past this generation.
MAX_GENERATION = 0xFFFF_FFFF


class RatchetKind(enum.Enum):
    """§9: the two ratchets of a leaf; each value is the label that starts it."""

    HANDSHAKE = "handshake"
    APPLICATION = "application"


@dataclass(frozen=True, slots=True, repr=False)
class RatchetKey:
    """The key and nonce of one ratchet generation (§9.1). ``repr`` hides both."""

    generation: int
    key: bytes
    nonce: bytes

    def __repr__(self) -> str:
        return f"RatchetKey(generation={self.generation})"


class HashRatchet:
    """§9.1 one sender's hash ratchet: generation j's secret gives key_j, nonce_j and
    the secret of generation j + 1."""

    __slots__ = ("_generation", "_secret", "_skipped", "_suite", "_where")

    def __init__(self, suite: CipherSuite, secret: bytes, where: str) -> None:
        self._suite = suite
        self._secret = secret
        self._generation = 0
        # generation -> key skipped over but not yet used, oldest first.
        self._skipped: dict[int, RatchetKey] = {}
        self._where = where

    @property
    def generation(self) -> int:
        """The next generation this ratchet has not derived yet."""
        return self._generation

    def _derive(self) -> RatchetKey:
        """Derive the current generation's key and step the secret forward, erasing it."""
        if self._generation > MAX_GENERATION:
            raise GenerationUnavailable(f"RFC 9420 §9.1: {self._where} ratchet is exhausted")
        generation = self._generation
        key, nonce, self._secret = self._suite.derive_ratchet_generation(self._secret, generation)
        self._generation = generation + 1
        return RatchetKey(generation, key, nonce)

    def next_key(self) -> RatchetKey:
        """The key for the next message this ratchet's owner sends."""
        return self._derive()

    def peek(self, generation: int) -> RatchetKey:
        """The key of a received message's ``generation``, left available until
        :meth:`consume`: a message that fails to decrypt must not burn the key of the
        genuine message with the same generation."""
        if generation == self._generation and not self._skipped:
            # In order with no key held back, the usual case: exactly what
            # _advance_to would do, without its window bookkeeping.
            derived = self._derive()
            self._skipped[generation] = derived
            return derived
        if generation >= self._generation:
            self._advance_to(generation)
        key = self._skipped.get(generation)
        if key is None:
            raise GenerationUnavailable(
                f"RFC 9420 §9.2: {self._where} generation {generation} was already "
                f"used or is older than the {OUT_OF_ORDER_TOLERANCE}-key window"
            )
        return key

    def consume(self, generation: int) -> None:
        """Erase the key of ``generation`` once its message has been opened (§9.2)."""
        self._skipped.pop(generation, None)

    def key_for(self, generation: int) -> RatchetKey:
        """The key of a received message's ``generation``, handed out exactly once."""
        key = self.peek(generation)
        self.consume(generation)
        return key

    def _advance_to(self, generation: int) -> None:
        """Derive up to ``generation``, keeping the keys within the window behind it."""
        if generation - self._generation > MAX_FORWARD_DISTANCE:
            raise GenerationUnavailable(
                f"RFC 9420 §9.2: {self._where} generation {generation} is more than "
                f"{MAX_FORWARD_DISTANCE} ahead of {self._generation}"
            )
        oldest_kept = generation - OUT_OF_ORDER_TOLERANCE
        while self._generation <= generation:
            if self._generation >= oldest_kept:
                key = self._derive()
                self._skipped[key.generation] = key
            else:
                # Outside the window behind ``generation``: step the secret only.
                self._secret = self._suite.derive_tree_secret(
                    self._secret, "secret", self._generation, self._suite.hash_len
                )
                self._generation += 1
        while next(iter(self._skipped)) < oldest_kept:
            del self._skipped[next(iter(self._skipped))]

    def __repr__(self) -> str:
        return f"HashRatchet({self._where}, generation={self._generation})"

    def encode(self, writer: Writer) -> None:
        """The ratchet's state for a member's encrypted store: secret, generation and
        the keys kept for late messages. Never sent anywhere."""
        writer.vector(self._secret).uint32(min(self._generation, MAX_GENERATION))
        writer.uint8(1 if self._generation > MAX_GENERATION else 0)
        writer.uint16(len(self._skipped))
        for key in self._skipped.values():
            writer.uint32(key.generation).vector(key.key).vector(key.nonce)

    @classmethod
    def decode(cls, suite: CipherSuite, reader: Reader, where: str) -> HashRatchet:
        ratchet = cls(suite, reader.vector("HashRatchet.secret"), where)
        ratchet._generation = reader.uint32("HashRatchet.generation") + reader.uint8(
            "HashRatchet.exhausted"
        )
        for _ in range(reader.uint16("HashRatchet.skipped")):
            generation = reader.uint32("RatchetKey.generation")
            key = RatchetKey(
                generation, reader.vector("RatchetKey.key"), reader.vector("RatchetKey.nonce")
            )
            ratchet._skipped[generation] = key
        return ratchet


class SecretTree:
    """§9 one epoch's secret tree, derived lazily: only the nodes on the paths to
    leaves that have sent are ever computed."""

    __slots__ = ("_leaf_count", "_nodes", "_ratchets", "_suite")

    def __init__(self, suite: CipherSuite, encryption_secret: bytes, leaf_count: int) -> None:
        if len(encryption_secret) != suite.hash_len:
            raise ValidationError(
                f"RFC 9420 §9: encryption_secret must be {suite.hash_len} bytes, "
                f"got {len(encryption_secret)}"
            )
        self._suite = suite
        self._leaf_count = leaf_count
        # Node index -> secret for nodes whose children are not derived yet (§9.2).
        self._nodes: dict[int, bytes] = {tree_math.root(leaf_count): encryption_secret}
        self._ratchets: dict[tuple[int, RatchetKind], HashRatchet] = {}

    @property
    def leaf_count(self) -> int:
        return self._leaf_count

    def ratchet(self, leaf: int, kind: RatchetKind) -> HashRatchet:
        """The ``kind`` ratchet of ``leaf``, deriving the path down to it on first use."""
        found = self._ratchets.get((leaf, kind))
        if found is not None:
            return found
        if not 0 <= leaf < self._leaf_count:
            raise ValidationError(
                f"RFC 9420 §9: leaf {leaf} is outside a tree of {self._leaf_count} leaves"
            )
        leaf_secret = self._leaf_secret(leaf)
        suite = self._suite
        for each in RatchetKind:
            secret = suite.expand_with_label(leaf_secret, each.value, b"", suite.hash_len)
            self._ratchets[(leaf, each)] = HashRatchet(suite, secret, f"leaf {leaf} {each.value}")
        return self._ratchets[(leaf, kind)]

    def next_key(self, leaf: int, kind: RatchetKind) -> RatchetKey:
        """The key for our own next message from ``leaf``."""
        return self.ratchet(leaf, kind).next_key()

    def key_for(self, leaf: int, kind: RatchetKind, generation: int) -> RatchetKey:
        """The key for a message received from ``leaf`` at ``generation``, used up."""
        return self.ratchet(leaf, kind).key_for(generation)

    def _leaf_secret(self, leaf: int) -> bytes:
        """Walk from the root down to the leaf, splitting every stored node on the way
        into its children (§9: "tree" with context "left" / "right") and erasing it."""
        target = tree_math.leaf_to_node(leaf)
        suite = self._suite
        for node in reversed(tree_math.direct_path(target, self._leaf_count)):
            secret = self._nodes.pop(node, None)
            if secret is None:
                continue
            self._nodes[tree_math.left(node)] = suite.expand_with_label(
                secret, "tree", b"left", suite.hash_len
            )
            self._nodes[tree_math.right(node)] = suite.expand_with_label(
                secret, "tree", b"right", suite.hash_len
            )
        return self._nodes.pop(target)

    def __repr__(self) -> str:
        return f"SecretTree({self._suite.name}, leaves={self._leaf_count})"

    def encode(self, writer: Writer) -> None:
        """The tree's state for a member's encrypted store (§9.2: only the secrets not
        yet erased)."""
        writer.uint32(self._leaf_count).uint32(len(self._nodes))
        for node, secret in self._nodes.items():
            writer.uint32(node).vector(secret)
        writer.uint32(len(self._ratchets))
        for (leaf, kind), ratchet in self._ratchets.items():
            writer.uint32(leaf).uint8(0 if kind is RatchetKind.HANDSHAKE else 1)
            ratchet.encode(writer)

    @classmethod
    def decode(cls, suite: CipherSuite, reader: Reader) -> SecretTree:
        tree = cls.__new__(cls)
        tree._suite = suite
        tree._leaf_count = reader.uint32("SecretTree.leaf_count")
        tree._nodes = {}
        for _ in range(reader.uint32("SecretTree.nodes")):
            node = reader.uint32("SecretTree.node")
            tree._nodes[node] = reader.vector("SecretTree.secret")
        tree._ratchets = {}
        for _ in range(reader.uint32("SecretTree.ratchets")):
            leaf = reader.uint32("SecretTree.leaf")
            kind = (
                RatchetKind.HANDSHAKE
                if reader.uint8("RatchetKind") == 0
                else (RatchetKind.APPLICATION)
            )
            tree._ratchets[(leaf, kind)] = HashRatchet.decode(
                suite, reader, f"leaf {leaf} {kind.value}"
            )
        return tree
