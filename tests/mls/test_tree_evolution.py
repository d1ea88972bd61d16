"""Random group histories on the real tree: adds, removes and updates, each commit with
an UpdatePath that every member processes and every joiner installs from its path
secret. After every commit all members hold the same tree, that tree passes every
check a joiner makes (§12.4.3.1), and all agree on the commit secret."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sottovoce.mls import treekem
from sottovoce.mls.ciphersuite import cipher_suite
from sottovoce.mls.leaf_validation import GroupParameters, validate_tree_leaves
from sottovoce.mls.ratchet_tree import RatchetTree, subtree_leaves
from sottovoce.mls.treekem import TreePrivateKeys

from .tree_builders import GROUP_ID, Client, context_for, key_package_client, update_leaf

SUITE = cipher_suite(1)


def prune(keys: TreePrivateKeys, tree: RatchetTree) -> None:
    """Forget private keys whose node is gone, blank or holds another public key."""
    stale = []
    for node in keys.nodes:
        pair = keys.key_pair(node)
        public = tree.node(node) if node < tree.width else None
        if pair is None or public is None or public.encryption_key != pair.public:
            stale.append(node)
    keys.forget(stale)


class Group:
    def __init__(self) -> None:
        creator = key_package_client(SUITE, "c0")
        self.clients: dict[int, Client] = {0: creator}
        self.trees: dict[int, RatchetTree] = {0: RatchetTree.with_one_member(SUITE, creator.leaf)}
        self.keys: dict[int, TreePrivateKeys] = {0: TreePrivateKeys(0, creator.leaf_key)}
        self.epoch = 0
        self.names = 1

    def commit(self, committer: int, adds: int, removes: list[int], updates: list[int]) -> None:
        self.epoch += 1
        encode = context_for(SUITE, self.epoch)
        provisional = {index: tree.copy() for index, tree in self.trees.items()}
        new_leaves = []
        for member in updates:
            leaf = update_leaf(SUITE, self.clients[member], member)
            for tree in provisional.values():
                tree.update_leaf(member, leaf)
            self.keys[member].set_leaf(self.clients[member].leaf_key)
        for member in removes:
            for tree in provisional.values():
                tree.remove_leaf(member)
        joiners = [key_package_client(SUITE, f"c{self.names + i}") for i in range(adds)]
        self.names += adds
        for joiner in joiners:
            slots = {tree.add_leaf(joiner.leaf) for tree in provisional.values()}
            assert len(slots) == 1
            new_leaves.append((slots.pop(), joiner))
        excluded = [slot for slot, _ in new_leaves]
        for member in removes:
            del self.clients[member], self.keys[member], provisional[member]
        mine = provisional[committer]
        own_leaf = mine.leaf(committer)
        assert own_leaf is not None
        created = treekem.create_update_path(
            mine,
            self.keys[committer],
            own_leaf,
            self.clients[committer].signing_key,
            GROUP_ID,
            encode,
            excluded=excluded,
        )
        for member, tree in provisional.items():
            if member == committer:
                continue
            processed = treekem.process_update_path(
                tree, self.keys[member], committer, created.update_path, encode, excluded=excluded
            )
            assert processed.commit_secret == created.commit_secret
            assert tree == mine
        for slot, joiner in new_leaves:
            keys = TreePrivateKeys(slot, joiner.leaf_key)
            node = next(
                n for n in mine.filtered_direct_path(committer) if slot in subtree_leaves(n)
            )
            secret = treekem.install_path_secret(
                mine, keys, committer, node, created.path_secrets[node]
            )
            assert secret == created.commit_secret
            self.clients[slot], self.keys[slot], provisional[slot] = joiner, keys, mine.copy()
        self.trees = provisional
        for member, keys in self.keys.items():
            prune(keys, self.trees[member])
        mine.check_integrity()
        validate_tree_leaves(GroupParameters(GROUP_ID, SUITE), mine)


steps = st.lists(
    st.tuples(st.integers(0, 99), st.integers(0, 3), st.integers(0, 2), st.integers(0, 2)),
    min_size=1,
    max_size=7,
)


@settings(max_examples=25, deadline=None)
@given(history=steps)
def test_random_histories_keep_every_member_in_step(
    history: list[tuple[int, int, int, int]],
) -> None:
    group = Group()
    for who, adds, n_removes, n_updates in history:
        members = sorted(group.clients)
        committer = members[who % len(members)]
        others = [m for m in members if m != committer]
        removes = others[: min(n_removes, len(others))]
        updates = [m for m in others if m not in removes][:n_updates]
        group.commit(committer, adds, removes, updates)
    assert len({bytes(tree) for tree in group.trees.values()}) == 1


def test_a_member_added_below_a_foreign_parent_is_reached_through_unmerged_leaves() -> None:
    """Leaf 1 is removed, leaf 0 then refreshes node 3 (which skips blank leaf 1), and
    leaf 4 adds a member into leaf 1: node 3 is off leaf 4's path, so the newcomer
    must be listed unmerged there (§12.1.1) for leaf 4's next path to reach it."""
    group = Group()
    group.commit(0, 5, [], [])
    assert sorted(group.clients) == [0, 1, 2, 3, 4, 5]
    group.commit(2, 0, [1], [])
    group.commit(0, 0, [], [])
    group.commit(4, 1, [], [])
    node = group.trees[4].parent_node(3)
    assert node is not None and node.unmerged_leaves == (1,)
    group.commit(4, 0, [], [])
    group.commit(1, 0, [0], [])
