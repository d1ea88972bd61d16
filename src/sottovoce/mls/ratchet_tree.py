"""The ratchet tree (RFC 9420 §4.1, §7): the group's public key tree, in array form.

Node ``i`` of a tree with ``n`` leaves (``n`` a power of two) is a
:class:`~sottovoce.mls.wire.leaf_node.LeafNode` at even ``i``, a
:class:`~sottovoce.mls.wire.tree.ParentNode` at odd ``i``, or ``None`` for a blank.
Nodes are immutable; every change goes through :meth:`RatchetTree._set`, which
also forgets the cached tree hashes of the node and its ancestors, so the tree hash
after a commit costs O(log n) hashes rather than one per node.

Public API, for the group state machine:

* building: :meth:`RatchetTree.with_one_member`, :meth:`RatchetTree.from_wire`,
  :meth:`RatchetTree.from_bytes`; :meth:`RatchetTree.to_wire` / ``bytes(tree)`` give
  the ratchet_tree extension (§12.4.3.3); :meth:`RatchetTree.copy` for a
  provisional tree.
* reading: :meth:`leaf`, :meth:`node`, :meth:`members`, :meth:`resolution`,
  :meth:`filtered_direct_path`, :meth:`filtered_path_and_copath`.
* changing (§12.1, §7.7): :meth:`add_leaf`, :meth:`update_leaf`,
  :meth:`remove_leaf`, :meth:`merge_path` (an UpdatePath's public keys, §7.5),
  :meth:`set_leaf`.
* hashing: :meth:`tree_hash` (§7.8), :meth:`node_tree_hash`,
  :meth:`verify_parent_hashes` (§7.9.2) and :meth:`check_integrity` (the tree checks
  a joiner makes, §12.4.3.1).

Leaf validation against a group (§7.3) is :mod:`sottovoce.mls.leaf_validation`;
creating and processing UpdatePaths is :mod:`sottovoce.mls.treekem`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TypeGuard

from sottovoce.mls import tree_math
from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.codec import Writer
from sottovoce.mls.errors import ValidationError
from sottovoce.mls.wire.leaf_node import LeafNode
from sottovoce.mls.wire.registry import LeafNodeSource, NodeType
from sottovoce.mls.wire.tree import Node, ParentNode, RatchetTreeNodes

TreeNode = LeafNode | ParentNode


def subtree_leaves(node: int) -> range:
    """The leaf indices under ``node`` (§4.1: a level-k node covers 2^k leaves)."""
    k = tree_math.level(node)
    first = (node - ((1 << k) - 1)) // 2
    return range(first, first + (1 << k))


class RatchetTree:
    """A mutable ratchet tree of one cipher suite."""

    __slots__ = ("_hashes", "_nodes", "suite")

    def __init__(self, suite: CipherSuite, nodes: Sequence[TreeNode | None]) -> None:
        width = len(nodes)
        n_leaves = (width + 1) // 2
        if width != tree_math.node_width(n_leaves) or n_leaves & (n_leaves - 1) or not width:
            raise ValidationError(f"RFC 9420 §7.1: {width} nodes do not form a complete tree")
        for index, node in enumerate(nodes):
            if node is not None and isinstance(node, LeafNode) != (index % 2 == 0):
                raise ValidationError(f"RFC 9420 §7.1: node {index} holds the wrong node type")
        self.suite = suite
        self._nodes: list[TreeNode | None] = list(nodes)
        self._hashes: list[bytes | None] = [None] * width

    # --- building ------------------------------------------------------------------

    @classmethod
    def with_one_member(cls, suite: CipherSuite, leaf: LeafNode) -> RatchetTree:
        """§11: a new group's tree holds only its creator."""
        return cls(suite, [leaf])

    @classmethod
    def from_wire(cls, suite: CipherSuite, tree: RatchetTreeNodes) -> RatchetTree:
        """§12.4.3.3: extend the received nodes with blanks to the next complete tree."""
        nodes: list[TreeNode | None] = [
            None if node is None else node.leaf if node.leaf is not None else node.parent
            for node in tree.nodes
        ]
        n_leaves = 1
        while tree_math.node_width(n_leaves) < len(nodes):
            n_leaves *= 2
        nodes.extend([None] * (tree_math.node_width(n_leaves) - len(nodes)))
        return cls(suite, nodes)

    @classmethod
    def from_bytes(cls, suite: CipherSuite, data: bytes) -> RatchetTree:
        """Decode a ratchet_tree extension; DecodeError or ValidationError if malformed."""
        return cls.from_wire(suite, RatchetTreeNodes.from_bytes(data))

    def to_wire(self) -> RatchetTreeNodes:
        """§12.4.3.3: the nodes in array order, trailing blanks left off."""
        end = len(self._nodes)
        while end and self._nodes[end - 1] is None:
            end -= 1
        return RatchetTreeNodes(tuple(_wire_node(node) for node in self._nodes[:end]))

    def __bytes__(self) -> bytes:
        return bytes(self.to_wire())

    def copy(self) -> RatchetTree:
        """An independent tree with the same nodes (and cached hashes)."""
        other = RatchetTree.__new__(RatchetTree)
        other.suite = self.suite
        other._nodes = list(self._nodes)
        other._hashes = list(self._hashes)
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RatchetTree):
            return NotImplemented
        return self.suite == other.suite and self._nodes == other._nodes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RatchetTree(leaves={self.n_leaves}, members={self.member_count})"

    # --- reading -------------------------------------------------------------------

    @property
    def n_leaves(self) -> int:
        return (len(self._nodes) + 1) // 2

    @property
    def width(self) -> int:
        return len(self._nodes)

    @property
    def root(self) -> int:
        return tree_math.root(self.n_leaves)

    def node(self, index: int) -> TreeNode | None:
        self._check_node(index)
        return self._nodes[index]

    def leaf(self, leaf_index: int) -> LeafNode | None:
        """The member at ``leaf_index``, or ``None`` for a blank leaf."""
        nodes = self._nodes
        # _check_leaf, inline: every message received looks its sender up here.
        if not 0 <= leaf_index < (len(nodes) + 1) // 2:
            self._check_leaf(leaf_index)
        node = nodes[2 * leaf_index]
        assert node is None or isinstance(node, LeafNode)
        return node

    def parent_node(self, index: int) -> ParentNode | None:
        node = self.node(index)
        if isinstance(node, LeafNode):
            raise ValidationError(f"node {index} is a leaf, not a parent")
        return node

    def members(self) -> Iterator[tuple[int, LeafNode]]:
        """``(leaf_index, leaf)`` for every non-blank leaf, left to right."""
        for index in range(0, len(self._nodes), 2):
            node = self._nodes[index]
            if node is not None:
                assert isinstance(node, LeafNode)
                yield index // 2, node

    @property
    def member_count(self) -> int:
        return sum(1 for index in range(0, len(self._nodes), 2) if self._nodes[index] is not None)

    def find_leaf(self, leaf: LeafNode) -> int | None:
        """The index of a leaf identical to ``leaf`` (§12.4.3.1 "my_leaf"), if any."""
        for index, member in self.members():
            if member == leaf:
                return index
        return None

    def resolution(self, index: int) -> list[int]:
        """§4.1.1: the non-blank nodes covering the subtree under ``index``, with a
        parent's unmerged leaves after it."""
        self._check_node(index)
        out: list[int] = []
        self._resolve(index, out)
        return out

    def _resolve(self, index: int, out: list[int]) -> None:
        node = self._nodes[index]
        if isinstance(node, ParentNode):
            out.append(index)
            out.extend(2 * leaf for leaf in node.unmerged_leaves)
        elif node is not None:
            out.append(index)
        elif index & 1:
            self._resolve(tree_math.left(index), out)
            self._resolve(tree_math.right(index), out)

    def _subtree_is_blank(self, index: int) -> bool:
        node = self._nodes[index]
        if node is not None:
            return False
        if index & 1 == 0:
            return True
        return self._subtree_is_blank(tree_math.left(index)) and self._subtree_is_blank(
            tree_math.right(index)
        )

    def filtered_path_and_copath(self, leaf_index: int) -> list[tuple[int, int]]:
        """§4.1.2: ``(parent, copath child)`` for each node of the filtered direct path
        of ``leaf_index``: direct-path nodes whose copath child has a non-empty
        resolution, from the leaf up to the root."""
        self._check_leaf(leaf_index)
        n_leaves = self.n_leaves
        pairs = []
        child = 2 * leaf_index
        for parent in tree_math.direct_path(child, n_leaves):
            sibling = tree_math.sibling(child, n_leaves)
            if not self._subtree_is_blank(sibling):
                pairs.append((parent, sibling))
            child = parent
        return pairs

    def filtered_direct_path(self, leaf_index: int) -> list[int]:
        return [parent for parent, _ in self.filtered_path_and_copath(leaf_index)]

    # --- changing (§7.7, §12.1) -----------------------------------------------------

    def _set(self, index: int, node: TreeNode | None) -> None:
        """Every change passes here: cached tree hashes of ``index`` and its ancestors go."""
        self._nodes[index] = node
        hashes = self._hashes
        hashes[index] = None
        root = self.root
        n_leaves = self.n_leaves
        while index != root:
            index = tree_math.parent(index, n_leaves)
            if hashes[index] is None:
                break
            hashes[index] = None
        # Ancestors of a node whose hash was already unknown are unknown too: a hash is
        # cached only after the hashes of both its children are.

    def _extend(self) -> None:
        """§7.7: a new blank root over the old tree and an all-blank right subtree."""
        width = len(self._nodes)
        self._nodes.extend([None] * (width + 1))
        self._hashes.extend([None] * (width + 1))

    def truncate(self) -> None:
        """§7.7: drop right subtrees of the root that hold no non-blank node."""
        while self.n_leaves > 1 and self._subtree_is_blank(tree_math.right(self.root)):
            half = self.n_leaves // 2
            keep = tree_math.node_width(half)
            del self._nodes[keep:]
            del self._hashes[keep:]

    def blank_path(self, leaf_index: int) -> None:
        """Blank every node on the direct path of ``leaf_index``."""
        for index in tree_math.direct_path(2 * leaf_index, self.n_leaves):
            if self._nodes[index] is not None:
                self._set(index, None)

    def add_leaf(self, leaf: LeafNode) -> int:
        """§12.1.1: place ``leaf`` in the leftmost blank leaf (extending the tree if
        there is none) and list it as unmerged in every non-blank ancestor."""
        leaf_index = next(
            (i // 2 for i in range(0, len(self._nodes), 2) if self._nodes[i] is None),
            None,
        )
        if leaf_index is None:
            leaf_index = self.n_leaves
            self._extend()
        for index in tree_math.direct_path(2 * leaf_index, self.n_leaves):
            parent = self._nodes[index]
            if parent is not None:
                assert isinstance(parent, ParentNode)
                unmerged = list(parent.unmerged_leaves)
                bisect.insort(unmerged, leaf_index)
                self._set(index, replace(parent, unmerged_leaves=tuple(unmerged)))
        self._set(2 * leaf_index, leaf)
        return leaf_index

    def update_leaf(self, leaf_index: int, leaf: LeafNode) -> None:
        """§12.1.2: replace a member's leaf and blank its direct path."""
        if self.leaf(leaf_index) is None:
            raise ValidationError(f"RFC 9420 §12.1.2: leaf {leaf_index} is blank")
        self._set(2 * leaf_index, leaf)
        self.blank_path(leaf_index)

    def remove_leaf(self, leaf_index: int) -> None:
        """§12.1.3: blank a member's leaf and direct path, then truncate."""
        if self.leaf(leaf_index) is None:
            raise ValidationError(f"RFC 9420 §12.1.3: Remove of leaf {leaf_index}, which is blank")
        self._set(2 * leaf_index, None)
        self.blank_path(leaf_index)
        self.truncate()

    def set_leaf(self, leaf_index: int, leaf: LeafNode) -> None:
        """Replace a leaf as it stands (the committer's new leaf after :meth:`merge_path`)."""
        self._check_leaf(leaf_index)
        self._set(2 * leaf_index, leaf)

    def merge_path(self, leaf_index: int, public_keys: Sequence[bytes]) -> bytes:
        """§7.5 "merges UpdatePath into the tree": blank the direct path of
        ``leaf_index``, put ``public_keys`` on its filtered direct path with no
        unmerged leaves, set their parent hashes root first (§7.9), and return the
        parent hash the leaf must carry.

        The filtered direct path is taken from the tree as it is, so proposals of the
        same commit must be applied first.
        """
        pairs = self.filtered_path_and_copath(leaf_index)
        if len(pairs) != len(public_keys):
            raise ValidationError(
                f"RFC 9420 §7.6: UpdatePath has {len(public_keys)} nodes, the filtered "
                f"direct path of leaf {leaf_index} has {len(pairs)}"
            )
        self.blank_path(leaf_index)
        parent_hash = b""
        for (parent, sibling), key in reversed(list(zip(pairs, public_keys, strict=True))):
            node = ParentNode(key, parent_hash, ())
            self._set(parent, node)
            parent_hash = self._parent_hash(node, self.node_tree_hash(sibling))
        return parent_hash

    # --- hashes (§7.8, §7.9) ---------------------------------------------------------

    def tree_hash(self) -> bytes:
        """§7.8: the tree hash of the root, as the GroupContext carries it."""
        return self.node_tree_hash(self.root)

    def node_tree_hash(self, index: int) -> bytes:
        """§7.8: Hash(TreeHashInput) of the subtree under ``index``."""
        self._check_node(index)
        return self._tree_hash(index)

    def _tree_hash(self, index: int) -> bytes:
        cached = self._hashes[index]
        if cached is not None:
            return cached
        node = self._nodes[index]
        if index & 1 == 0:
            assert node is None or isinstance(node, LeafNode)
            digest = self._leaf_hash(index // 2, node)
        else:
            assert node is None or isinstance(node, ParentNode)
            left = self._tree_hash(tree_math.left(index))
            right = self._tree_hash(tree_math.right(index))
            digest = self._parent_node_hash(node, left, right)
        self._hashes[index] = digest
        return digest

    def _leaf_hash(self, leaf_index: int, leaf: LeafNode | None) -> bytes:
        """§7.8 TreeHashInput{leaf, LeafNodeHashInput{leaf_index, optional<LeafNode>}}."""
        writer = Writer().uint8(NodeType.LEAF).uint32(leaf_index)
        if leaf is None:
            writer.uint8(0)
        else:
            writer.uint8(1)
            leaf.encode(writer)
        return self.suite.hash(bytes(writer))

    def _parent_node_hash(self, node: ParentNode | None, left: bytes, right: bytes) -> bytes:
        """§7.8 TreeHashInput{parent, ParentNodeHashInput{optional<ParentNode>, left, right}}."""
        writer = Writer().uint8(NodeType.PARENT)
        if node is None:
            writer.uint8(0)
        else:
            writer.uint8(1)
            node.encode(writer)
        writer.vector(left).vector(right)
        return self.suite.hash(bytes(writer))

    def _parent_hash(self, node: ParentNode, original_sibling_tree_hash: bytes) -> bytes:
        """§7.9 Hash(ParentHashInput{encryption_key, parent_hash, original_sibling_tree_hash})."""
        writer = Writer().vector(node.encryption_key).vector(node.parent_hash)
        writer.vector(original_sibling_tree_hash)
        return self.suite.hash(bytes(writer))

    def _original_tree_hash(self, index: int, removed: frozenset[int]) -> bytes:
        """§7.9: the tree hash of ``index`` with the leaves in ``removed`` blanked and
        dropped from every unmerged_leaves list. Subtrees without them reuse the cache."""
        if removed.isdisjoint(subtree_leaves(index)):
            return self._tree_hash(index)
        node = self._nodes[index]
        if index & 1 == 0:
            return self._leaf_hash(index // 2, None)
        assert node is None or isinstance(node, ParentNode)
        if node is not None:
            kept = tuple(leaf for leaf in node.unmerged_leaves if leaf not in removed)
            node = replace(node, unmerged_leaves=kept)
        left = self._original_tree_hash(tree_math.left(index), removed)
        right = self._original_tree_hash(tree_math.right(index), removed)
        return self._parent_node_hash(node, left, right)

    def _parent_hash_links(self, index: int, node: ParentNode) -> int:
        """§7.9.2: how many descendants D of ``node`` link to it: D's parent_hash is the
        parent hash of ``node`` with the other child as copath child, D is in the
        resolution of its side, and the rest of that resolution is exactly the
        unmerged leaves of ``node`` on that side (so D and ``node`` were neighbours
        in one UpdatePath)."""
        removed = frozenset(node.unmerged_leaves)
        links = 0
        for child, sibling in (
            (tree_math.left(index), tree_math.right(index)),
            (tree_math.right(index), tree_math.left(index)),
        ):
            resolution = self.resolution(child)
            under_child = subtree_leaves(child)
            unmerged = {2 * leaf for leaf in node.unmerged_leaves if leaf in under_child}
            candidates = [d for d in resolution if d not in unmerged]
            if len(candidates) != 1 or set(resolution) - {candidates[0]} != unmerged:
                continue
            descendant = self._nodes[candidates[0]]
            if not _carries_parent_hash(descendant):
                continue
            expected = self._parent_hash(node, self._original_tree_hash(sibling, removed))
            if descendant.parent_hash == expected:
                links += 1
        return links

    def verify_parent_hashes(self) -> None:
        """§7.9.2, top down: every non-blank parent node has exactly one descendant
        for which it is parent-hash valid."""
        for index in range(1, len(self._nodes), 2):
            node = self._nodes[index]
            if node is None:
                continue
            assert isinstance(node, ParentNode)
            if self._parent_hash_links(index, node) != 1:
                raise ValidationError(
                    f"RFC 9420 §7.9.2: parent node {index} is not parent-hash valid"
                )

    def check_integrity(self) -> None:
        """§12.4.3.1 "Verify the integrity of the ratchet tree", except for the tree hash
        (which the caller compares with the GroupContext) and leaf validation (§7.3,
        :mod:`sottovoce.mls.leaf_validation`): parent hashes, unmerged leaves, and
        encryption keys that appear in one node only."""
        n_leaves = self.n_leaves
        seen: dict[bytes, int] = {}
        for index, node in enumerate(self._nodes):
            if node is None:
                continue
            if node.encryption_key in seen:
                raise ValidationError(
                    f"RFC 9420 §12.4.3.1: nodes {seen[node.encryption_key]} and {index} "
                    "share an encryption key"
                )
            seen[node.encryption_key] = index
            if isinstance(node, ParentNode):
                self._check_unmerged(index, node, n_leaves)
        self.verify_parent_hashes()

    def _check_unmerged(self, index: int, node: ParentNode, n_leaves: int) -> None:
        unmerged = node.unmerged_leaves
        if list(unmerged) != sorted(set(unmerged)):
            raise ValidationError(
                f"RFC 9420 §7.1: unmerged_leaves of node {index} are not in increasing order"
            )
        under = subtree_leaves(index)
        for leaf in unmerged:
            if leaf not in under or self._nodes[2 * leaf] is None:
                raise ValidationError(
                    f"RFC 9420 §12.4.3.1: unmerged leaf {leaf} of node {index} is not a "
                    "member below it"
                )
            for between in tree_math.direct_path(2 * leaf, n_leaves):
                if between == index:
                    break
                other = self._nodes[between]
                if isinstance(other, ParentNode) and leaf not in other.unmerged_leaves:
                    raise ValidationError(
                        f"RFC 9420 §12.4.3.1: unmerged leaf {leaf} of node {index} is missing "
                        f"from node {between}"
                    )

    # --- helpers ---------------------------------------------------------------------

    def _check_node(self, index: int) -> None:
        if not 0 <= index < len(self._nodes):
            raise ValidationError(f"node {index} is outside a tree of {self.n_leaves} leaves")

    def _check_leaf(self, leaf_index: int) -> None:
        if not 0 <= leaf_index < self.n_leaves:
            raise ValidationError(f"leaf {leaf_index} is outside a tree of {self.n_leaves} leaves")


def _carries_parent_hash(node: TreeNode | None) -> TypeGuard[TreeNode]:
    """§7.9.2: parent nodes and commit-sourced leaves hold a parent_hash."""
    if isinstance(node, ParentNode):
        return True
    return node is not None and node.leaf_node_source is LeafNodeSource.COMMIT


def _wire_node(node: TreeNode | None) -> Node | None:
    if node is None:
        return None
    if isinstance(node, LeafNode):
        return Node(leaf=node)
    return Node(parent=node)
