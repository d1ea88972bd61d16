"""TreeKEM: path secrets, node key pairs and the encryption of path secrets
(RFC 9420 §7.4-§7.6).

A committer refreshes every key on its filtered direct path from one fresh leaf
secret: each path secret derives the next, each derives its node's key pair, and
the one after the root's is the commit secret (§7.4, §12.4.1). Each path secret is
sent to the members below the copath child, encrypted with EncryptWithLabel under
"UpdatePathNode" and the provisional GroupContext (§7.6), so one member learns
exactly the secrets of its own ancestors.

This module holds the derivations and the per-member private state; walking the
ratchet tree (filtered direct paths, resolutions, merging an UpdatePath) belongs to
the tree itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sottovoce.crypto import dh, random
from sottovoce.mls import tree_math
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.errors import ValidationError

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

    def forget(self, nodes: Iterable[int]) -> None:
        """§7.5: erase keys of nodes an UpdatePath blanked or replaced."""
        for node in nodes:
            self._keys.pop(node, None)

    def __repr__(self) -> str:
        return f"TreePrivateKeys(leaf={self.leaf_index}, nodes={self.nodes})"
