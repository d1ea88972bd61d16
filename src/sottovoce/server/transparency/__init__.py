"""The key-transparency log the server keeps: RFC 9162 Merkle tree, proofs, signed heads.

``tree`` is the append-only Merkle tree over opaque leaves, ``storage`` the
interfaces it persists through (``inmem`` implements them in memory), and
``log`` the server's log of key-change entries with one signed head per epoch.
Clients verify everything this package produces with
``sottovoce.protocol.public.merkle`` and ``tree_head``.
"""
