"""One epoch of a group as a member holds it (RFC 9420 §8, §9).

An :class:`Epoch` is immutable in its public part (GroupContext, tree, transcript
hashes) and owns the mutable secret tree of that epoch. A commit never edits an
epoch: it builds the next one, so a commit that fails any check leaves the group
exactly where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sottovoce.mls import tree_math
from sottovoce.mls.ciphersuite import CipherSuite, cipher_suite
from sottovoce.mls.codec import Reader, Writer
from sottovoce.mls.errors import DecodeError
from sottovoce.mls.group.protection import EpochKeys
from sottovoce.mls.key_schedule import EpochSecrets
from sottovoce.mls.ratchet_tree import RatchetTree
from sottovoce.mls.secret_tree import SecretTree
from sottovoce.mls.treekem import TreePrivateKeys
from sottovoce.mls.wire.group_context import GroupContext

_SECRET_FIELDS = tuple(field.name for field in fields(EpochSecrets))


@dataclass(slots=True, repr=False)
class Epoch:
    """The state of one epoch: public context and tree, secrets, our private keys."""

    suite: CipherSuite
    context: GroupContext
    tree: RatchetTree
    secrets: EpochSecrets
    secret_tree: SecretTree
    private: TreePrivateKeys
    # §8.2: the interim hash the next commit chains from, and the confirmation tag of
    # the commit that started this epoch (a GroupInfo for this epoch carries it).
    interim_transcript_hash: bytes
    confirmation_tag: bytes
    encoded_context: bytes = b""
    epoch_keys: EpochKeys | None = None

    def __post_init__(self) -> None:
        self.encoded_context = bytes(self.context)
        self.epoch_keys = EpochKeys(
            self.suite,
            self.context.group_id,
            self.context.epoch,
            self.encoded_context,
            self.secrets.sender_data_secret,
            self.secrets.membership_key,
            self.secret_tree,
        )

    @property
    def own_leaf(self) -> int:
        return self.private.leaf_index

    def keys(self) -> EpochKeys:
        """What protecting and opening this epoch's messages needs (built once)."""
        assert self.epoch_keys is not None
        return self.epoch_keys

    def __repr__(self) -> str:
        return f"Epoch({self.context.epoch}, leaves={self.tree.n_leaves})"

    def encode(self, writer: Writer) -> None:
        """The whole epoch, secrets included, for the member's encrypted store."""
        writer.uint16(self.suite.id).vector(self.encoded_context).vector(bytes(self.tree))
        for name in _SECRET_FIELDS:
            writer.vector(getattr(self.secrets, name))
        self.secret_tree.encode(writer)
        private = self.private
        writer.uint32(private.leaf_index)
        nodes = private.nodes
        writer.uint32(len(nodes))
        for node in nodes:
            key_pair = private.key_pair(node)
            assert key_pair is not None
            writer.uint32(node).vector(key_pair.private_bytes())
        writer.vector(self.interim_transcript_hash).vector(self.confirmation_tag)

    @classmethod
    def decode(cls, reader: Reader) -> Epoch:
        suite = cipher_suite(reader.uint16("Epoch.cipher_suite"))
        context = GroupContext.from_bytes(reader.vector("Epoch.group_context"))
        tree = RatchetTree.from_bytes(suite, reader.vector("Epoch.tree"))
        secrets = EpochSecrets(**{name: reader.vector(f"Epoch.{name}") for name in _SECRET_FIELDS})
        secret_tree = SecretTree.decode(suite, reader)
        leaf_index = reader.uint32("Epoch.leaf_index")
        keys = {}
        for _ in range(reader.uint32("Epoch.private_keys")):
            node = reader.uint32("Epoch.private_node")
            keys[node] = suite.hpke_key_pair(reader.vector("Epoch.private_key"))
        own_node = tree_math.leaf_to_node(leaf_index)
        if own_node not in keys:
            raise DecodeError("Epoch: no private key for our own leaf")
        private = TreePrivateKeys(leaf_index, keys.pop(own_node))
        private.set_path(list(keys), list(keys.values()))
        return cls(
            suite,
            context,
            tree,
            secrets,
            secret_tree,
            private,
            reader.vector("Epoch.interim_transcript_hash"),
            reader.vector("Epoch.confirmation_tag"),
        )


def new_secret_tree(suite: CipherSuite, secrets: EpochSecrets, tree: RatchetTree) -> SecretTree:
    """§9: the epoch's secret tree spans as many leaves as the ratchet tree."""
    return SecretTree(suite, secrets.encryption_secret, tree.n_leaves)
