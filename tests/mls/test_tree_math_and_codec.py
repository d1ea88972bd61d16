"""Properties of tree math and the codec beyond the published vectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sottovoce.mls import tree_math
from sottovoce.mls.codec import MAX_VARINT, Reader, Writer, encode_varint
from sottovoce.mls.errors import DecodeError, ValidationError

powers_of_two = st.integers(min_value=0, max_value=12).map(lambda k: 1 << k)


@given(powers_of_two, st.data())
def test_direct_path_and_copath_partition_the_tree(n: int, data: st.DataObject) -> None:
    leaf = data.draw(st.integers(min_value=0, max_value=n - 1))
    x = tree_math.leaf_to_node(leaf)
    path = tree_math.direct_path(x, n)
    assert (path[-1] if path else x) == tree_math.root(n)
    assert len(path) == len(tree_math.copath(x, n)) == (n.bit_length() - 1)
    for node, sibling in zip([x, *path], tree_math.copath(x, n), strict=False):
        assert tree_math.parent(sibling, n) == tree_math.parent(node, n)


def test_bad_trees_and_nodes_are_typed_errors() -> None:
    with pytest.raises(ValidationError):
        tree_math.root(3)
    with pytest.raises(ValidationError):
        tree_math.left(4)
    with pytest.raises(ValidationError):
        tree_math.parent(tree_math.root(8), 8)
    with pytest.raises(ValidationError):
        tree_math.parent(40, 8)
    with pytest.raises(ValidationError):
        tree_math.node_to_leaf(3)


@given(st.integers(min_value=0, max_value=MAX_VARINT), st.binary(max_size=300))
def test_codec_round_trips(length: int, payload: bytes) -> None:
    assert Reader(encode_varint(length)).varint() == length
    encoded = bytes(Writer().uint16(7).vector(payload).uint64(2**40))
    reader = Reader(encoded)
    assert (reader.uint16(), reader.vector(), reader.uint64()) == (7, payload, 2**40)
    reader.finish()


@given(st.binary(max_size=64))
def test_decoding_random_bytes_only_raises_decode_error(data: bytes) -> None:
    reader = Reader(data)
    try:
        while reader.remaining:
            reader.vector()
    except DecodeError:
        pass


def test_non_minimal_and_eight_byte_varints_are_rejected() -> None:
    with pytest.raises(DecodeError, match="minimally"):
        Reader(b"\x40\x05").varint()
    with pytest.raises(DecodeError, match="8-byte"):
        Reader(b"\xc0" + bytes(7)).varint()
    with pytest.raises(DecodeError, match="truncated"):
        Reader(b"\x05ab").vector()
