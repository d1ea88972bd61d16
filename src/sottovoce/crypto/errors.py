"""Errors raised by the crypto wrappers. Messages never include key material."""


class CryptoError(Exception):
    """Base class for every cryptographic failure."""


class InvalidKey(CryptoError):
    """A key has the wrong length or is not a valid point/encoding."""


class InvalidSignature(CryptoError):
    """A signature did not verify under the given public key."""


class DecryptionFailed(CryptoError):
    """An AEAD or KEM ciphertext failed authentication or was malformed."""
