"""TreeKEM: path secrets, node key pairs and the encryption of path secrets
(RFC 9420 §7.4-§7.6).

A committer refreshes every key on its filtered direct path from one fresh leaf
secret: each path secret derives the next, each derives its node's key pair, and
the one after the root's is the commit secret (§7.4, §12.4.1). Each path secret is
sent to the members below the copath child, encrypted with EncryptWithLabel under
"UpdatePathNode" and the provisional GroupContext (§7.6), so one member learns
exactly the secrets of its own ancestors.

This module holds the derivations, the per-member private state, and the two
operations on a :class:`~sottovoce.mls.ratchet_tree.RatchetTree`:
:func:`create_update_path` (a committer's) and :func:`process_update_path` (every
other member's), plus :func:`install_path_secret` for a member joining by Welcome.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from sottovoce.crypto import dh, random, signing
from sottovoce.mls import tree_math
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.errors import ValidationError
from sottovoce.mls.ratchet_tree import RatchetTree, subtree_leaves
from sottovoce.mls.wire.hpke import HPKECiphertext
from sottovoce.mls.wire.leaf_node import LeafNode
from sottovoce.mls.wire.registry import LeafNodeSource
from sottovoce.mls.wire.update_path import UpdatePath, UpdatePathNode

# §7.6: the EncryptWithLabel label of every path secret ciphertext.
UPDATE_PATH_NODE_LABEL = "UpdatePathNode"


def next_path_secret(suite: CipherSuite, path_secret: bytes) -> bytes:
    """§7.4: path_secret[n] = DeriveSecret(path_secret[n-1], "path")."""
    return suite.derive_secret(path_secret, "path")


def node_key_pair(suite: CipherSuite, path_secret: bytes) -> dh.DHKeyPair:
    """§7.4: node_priv, node_pub = KEM.DeriveKeyPair(DeriveSecret(path_secret, "node"))."""
    return suite.derive_hpke_key_pair(suite.derive_secret(path_secret, "node"))


@dataclass(frozen=True, slots=True, repr=False)
class PathSecrets:
    """The secrets of one UpdatePath from some node upwards, and the commit secret.

    ``secrets[i]`` belongs to the i-th node of the filtered direct path counted from
    where the chain starts; ``commit_secret`` is derived from the last of them
    (§12.4.1: "path_secret[n+1]").
    """

    secrets: tuple[bytes, ...]
    commit_secret: bytes

    def __repr__(self) -> str:
        return f"PathSecrets(<{len(self.secrets)} secrets>)"

    @classmethod
    def chain(cls, suite: CipherSuite, first: bytes, length: int) -> PathSecrets:
        """``length`` path secrets starting with ``first``, then the commit secret."""
        secrets = []
        current = first
        for _ in range(length):
            secrets.append(current)
            current = next_path_secret(suite, current)
        return cls(tuple(secrets), current)

    def key_pairs(self, suite: CipherSuite) -> list[dh.DHKeyPair]:
        return [node_key_pair(suite, secret) for secret in self.secrets]


@dataclass(frozen=True, slots=True, repr=False)
class FreshPath:
    """A committer's new keys (§7.4 Figure 14): the leaf key pair and the path secrets
    of its filtered direct path, all from one random leaf secret."""

    leaf_key_pair: dh.DHKeyPair
    path: PathSecrets

    def __repr__(self) -> str:
        return f"FreshPath(leaf={self.leaf_key_pair.public.hex()[:16]}…)"

    @classmethod
    def generate(
        cls, suite: CipherSuite, filtered_path_length: int, *, leaf_secret: bytes | None = None
    ) -> FreshPath:
        """Keys for a filtered direct path of ``filtered_path_length`` nodes.

        As in §7.4 Figure 14, the leaf's key pair comes from ``leaf_secret`` and
        path_secret[0] = DeriveSecret(leaf_secret, "path"), so even a committer with an
        empty filtered direct path (a group of one) gets a fresh commit secret.
        ``leaf_secret`` is fixed only by tests.
        """
        secret = leaf_secret if leaf_secret is not None else random.random_bytes(suite.hash_len)
        if len(secret) != suite.hash_len:
            raise ValidationError(f"RFC 9420 §7.4: leaf secret must be {suite.hash_len} bytes")
        first = next_path_secret(suite, secret)
        return cls(
            node_key_pair(suite, secret), PathSecrets.chain(suite, first, filtered_path_length)
        )


def encrypt_path_secret(
    suite: CipherSuite, path_secret: bytes, recipients: Iterable[bytes], group_context: bytes
) -> list[tuple[bytes, bytes]]:
    """§7.6: one HPKECiphertext ``(kem_output, ciphertext)`` per resolution public key,
    in resolution order."""
    return [
        suite.encrypt_with_label(public, UPDATE_PATH_NODE_LABEL, group_context, path_secret)
        for public in recipients
    ]


def decrypt_path_secret(
    suite: CipherSuite,
    key_pair: dh.DHKeyPair,
    group_context: bytes,
    kem_output: bytes,
    ciphertext: bytes,
) -> bytes:
    """§7.6: DecryptWithLabel(node_private_key, "UpdatePathNode", group_context, ...)."""
    path_secret = suite.decrypt_with_label(
        key_pair, UPDATE_PATH_NODE_LABEL, group_context, kem_output, ciphertext
    )
    if len(path_secret) != suite.hash_len:
        raise ValidationError(
            f"RFC 9420 §7.4: decrypted path secret is {len(path_secret)} bytes, "
            f"expected {suite.hash_len}"
        )
    return path_secret


def check_public_keys(
    suite: CipherSuite, nodes: Sequence[int], path: PathSecrets, public_keys: Sequence[bytes]
) -> list[dh.DHKeyPair]:
    """§7.5 step 6: the key pairs derived from ``path`` must be the public keys the
    UpdatePath announced for ``nodes``; returns the key pairs to store."""
    if not len(nodes) == len(path.secrets) == len(public_keys):
        raise ValidationError("RFC 9420 §7.5: path secrets do not cover the UpdatePath nodes")
    key_pairs = path.key_pairs(suite)
    for node, key_pair, public in zip(nodes, key_pairs, public_keys, strict=True):
        if key_pair.public != public:
            raise ValidationError(
                f"RFC 9420 §7.5: public key derived for node {node} differs from the UpdatePath"
            )
    return key_pairs


class TreePrivateKeys:
    """The private keys one member holds in the ratchet tree: its leaf's, and those of
    the parent nodes on its direct path that it learned from path secrets (§7.4's
    tree invariant). ``repr`` names nodes, never keys."""

    __slots__ = ("_keys", "leaf_index")

    def __init__(self, leaf_index: int, leaf_key_pair: dh.DHKeyPair) -> None:
        self.leaf_index = leaf_index
        self._keys: dict[int, dh.DHKeyPair] = {tree_math.leaf_to_node(leaf_index): leaf_key_pair}

    def key_pair(self, node: int) -> dh.DHKeyPair | None:
        return self._keys.get(node)

    @property
    def nodes(self) -> list[int]:
        return sorted(self._keys)

    def set_leaf(self, key_pair: dh.DHKeyPair) -> None:
        self._keys[tree_math.leaf_to_node(self.leaf_index)] = key_pair

    def set_path(self, nodes: Sequence[int], key_pairs: Sequence[dh.DHKeyPair]) -> None:
        """Install the keys of an UpdatePath's nodes that we now know."""
        for node, key_pair in zip(nodes, key_pairs, strict=True):
            self._keys[node] = key_pair

    def copy(self) -> TreePrivateKeys:
        """An independent copy, for a provisional state that may be dropped."""
        other = TreePrivateKeys.__new__(TreePrivateKeys)
        other.leaf_index = self.leaf_index
        other._keys = dict(self._keys)
        return other

    def forget(self, nodes: Iterable[int]) -> None:
        """§7.5: erase keys of nodes an UpdatePath blanked or replaced."""
        for node in nodes:
            self._keys.pop(node, None)

    def __repr__(self) -> str:
        return f"TreePrivateKeys(leaf={self.leaf_index}, nodes={self.nodes})"


# --- UpdatePaths on the ratchet tree (§7.5, §7.6) ----------------------------------------

GroupContextFor = Callable[[bytes], bytes]
"""Given the tree hash after the UpdatePath is merged, the encoded provisional
GroupContext that path secrets are encrypted under (§7.6)."""


@dataclass(frozen=True, slots=True, repr=False)
class CreatedPath:
    """What a committer gets from :func:`create_update_path`.

    ``path_secrets`` maps each node of the filtered direct path to its path secret:
    a Welcome gives each new member the one of the lowest node above both it and
    the committer (§12.4.3.1).
    """

    update_path: UpdatePath
    commit_secret: bytes
    path_secrets: dict[int, bytes]

    def __repr__(self) -> str:
        return f"CreatedPath(nodes={sorted(self.path_secrets)})"


@dataclass(frozen=True, slots=True, repr=False)
class ProcessedPath:
    """What a receiver gets from :func:`process_update_path`: the commit secret, and
    the path secret it decrypted for ``node``."""

    commit_secret: bytes
    node: int
    path_secret: bytes

    def __repr__(self) -> str:
        return f"ProcessedPath(node={self.node})"


def _recipients(tree: RatchetTree, copath_child: int, excluded: Collection[int]) -> list[int]:
    """§7.6: the resolution of the copath child without the leaves added by this commit."""
    return [
        node
        for node in tree.resolution(copath_child)
        if node & 1 or tree_math.node_to_leaf(node) not in excluded
    ]


def _encryption_key(tree: RatchetTree, node: int) -> bytes:
    value = tree.node(node)
    assert value is not None
    return value.encryption_key


def create_update_path(
    tree: RatchetTree,
    keys: TreePrivateKeys,
    leaf: LeafNode,
    signing_key: signing.SigningKey,
    group_id: bytes,
    group_context_for: GroupContextFor,
    *,
    excluded: Collection[int] = (),
    leaf_secret: bytes | None = None,
) -> CreatedPath:
    """§7.5, §12.4.2: refresh the committer's leaf and filtered direct path in ``tree``
    (the provisional tree, with this commit's proposals applied) and encrypt each path
    secret to the copath's resolution, leaving out the new members in ``excluded``.

    ``leaf`` is the committer's new leaf as it wants it (credential, capabilities,
    extensions); its encryption key, source, parent hash and signature are set here.
    ``keys`` learns the new private keys. ``leaf_secret`` is fixed only by tests.
    """
    suite = tree.suite
    leaf_index = keys.leaf_index
    pairs = tree.filtered_path_and_copath(leaf_index)
    fresh = FreshPath.generate(suite, len(pairs), leaf_secret=leaf_secret)
    key_pairs = fresh.path.key_pairs(suite)
    parent_hash = tree.merge_path(leaf_index, [pair.public for pair in key_pairs])
    new_leaf = replace(
        leaf,
        encryption_key=fresh.leaf_key_pair.public,
        leaf_node_source=LeafNodeSource.COMMIT,
        lifetime=None,
        parent_hash=parent_hash,
    ).signed(suite, signing_key, group_id, leaf_index)
    tree.set_leaf(leaf_index, new_leaf)
    context = group_context_for(tree.tree_hash())
    nodes = []
    for (_, copath_child), secret, key_pair in zip(
        pairs, fresh.path.secrets, key_pairs, strict=True
    ):
        recipients = [_encryption_key(tree, n) for n in _recipients(tree, copath_child, excluded)]
        ciphertexts = encrypt_path_secret(suite, secret, recipients, context)
        nodes.append(
            UpdatePathNode(key_pair.public, tuple(HPKECiphertext(*c) for c in ciphertexts))
        )
    keys.forget(tree_math.direct_path(tree_math.leaf_to_node(leaf_index), tree.n_leaves))
    keys.set_leaf(fresh.leaf_key_pair)
    path_nodes = [parent for parent, _ in pairs]
    keys.set_path(path_nodes, key_pairs)
    return CreatedPath(
        UpdatePath(new_leaf, tuple(nodes)),
        fresh.path.commit_secret,
        dict(zip(path_nodes, fresh.path.secrets, strict=True)),
    )


def process_update_path(
    tree: RatchetTree,
    keys: TreePrivateKeys,
    sender: int,
    update_path: UpdatePath,
    group_context_for: GroupContextFor,
    *,
    excluded: Collection[int] = (),
) -> ProcessedPath:
    """§7.5: merge ``update_path`` from leaf ``sender`` into ``tree`` (the provisional
    tree, with this commit's proposals applied), check the new leaf's parent hash
    (§7.9.2), decrypt the one path secret meant for us and derive the rest.

    Validating the new leaf itself (§7.3, source commit) is the caller's. ``tree``
    is changed even when this fails, so it must be a copy the caller can drop;
    ``keys`` changes only on success.
    """
    suite = tree.suite
    me = keys.leaf_index
    if sender == me:
        raise ValidationError("RFC 9420 §12.4.2: a member does not process its own UpdatePath")
    pairs = tree.filtered_path_and_copath(sender)
    if len(pairs) != len(update_path.nodes):
        raise ValidationError(
            f"RFC 9420 §7.6: UpdatePath has {len(update_path.nodes)} nodes, the filtered "
            f"direct path of leaf {sender} has {len(pairs)}"
        )
    position = None
    for index, ((_, copath_child), path_node) in enumerate(
        zip(pairs, update_path.nodes, strict=True)
    ):
        recipients = _recipients(tree, copath_child, excluded)
        if len(path_node.encrypted_path_secret) != len(recipients):
            raise ValidationError(
                f"RFC 9420 §7.6: {len(path_node.encrypted_path_secret)} ciphertexts for the "
                f"{len(recipients)} nodes of the resolution of node {copath_child}"
            )
        if position is None and me in subtree_leaves(copath_child):
            holder = next((n for n in recipients if keys.key_pair(n) is not None), None)
            if holder is None:
                raise ValidationError(
                    f"RFC 9420 §7.5: no private key for the resolution of node {copath_child}"
                )
            position = (index, holder)
    if position is None:
        raise ValidationError(f"RFC 9420 §7.5: leaf {me} is not below the path of leaf {sender}")

    public_keys = [path_node.encryption_key for path_node in update_path.nodes]
    parent_hash = tree.merge_path(sender, public_keys)
    if update_path.leaf_node.leaf_node_source is not LeafNodeSource.COMMIT or (
        update_path.leaf_node.parent_hash != parent_hash
    ):
        raise ValidationError(
            "RFC 9420 §7.9.2: the UpdatePath leaf's parent_hash does not match its path"
        )
    tree.set_leaf(sender, update_path.leaf_node)
    context = group_context_for(tree.tree_hash())

    index, holder = position
    holder_key = keys.key_pair(holder)
    assert holder_key is not None
    sealed = update_path.nodes[index].encrypted_path_secret[
        _recipients(tree, pairs[index][1], excluded).index(holder)
    ]
    path_secret = decrypt_path_secret(
        suite, holder_key, context, sealed.kem_output, sealed.ciphertext
    )
    path = PathSecrets.chain(suite, path_secret, len(pairs) - index)
    path_nodes = [parent for parent, _ in pairs[index:]]
    key_pairs = check_public_keys(suite, path_nodes, path, public_keys[index:])
    keys.forget(tree_math.direct_path(tree_math.leaf_to_node(sender), tree.n_leaves))
    keys.set_path(path_nodes, key_pairs)
    return ProcessedPath(path.commit_secret, pairs[index][0], path_secret)


def install_path_secret(
    tree: RatchetTree, keys: TreePrivateKeys, committer: int, node: int, path_secret: bytes
) -> bytes:
    """§12.4.3.1: a new member's keys from the Welcome's path secret for ``node``, the
    lowest node of the committer's filtered direct path above the new member; the
    secrets of the nodes above it follow (§7.4). Every derived public key must be the
    tree's. Returns the commit secret the chain ends in."""
    path_nodes = tree.filtered_direct_path(committer)
    if node not in path_nodes:
        raise ValidationError(
            f"RFC 9420 §12.4.3.1: node {node} is not on the committer's filtered direct path"
        )
    path_nodes = path_nodes[path_nodes.index(node) :]
    path = PathSecrets.chain(tree.suite, path_secret, len(path_nodes))
    public_keys = [_encryption_key(tree, n) for n in path_nodes]
    keys.set_path(path_nodes, check_public_keys(tree.suite, path_nodes, path, public_keys))
    return path.commit_secret
