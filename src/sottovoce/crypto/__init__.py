"""Thin, typed wrappers over pyca/cryptography.

Nothing else in Sottovoce imports pyca directly. One module per primitive family,
so the import graph can show which layers are able to decrypt (``aead``, ``hpke``)
and which can only hash and verify (``hashing``, ``signing``).
"""
