"""The MLS engine's typed errors. Each names the structure or RFC 9420 rule that failed."""


class MLSError(Exception):
    """Base class for every MLS failure."""


class DecodeError(MLSError):
    """Bytes from the wire do not parse as the expected TLS-presentation structure."""


class ValidationError(MLSError):
    """A well-formed structure breaks an RFC 9420 rule; the message cites the section."""


class CryptoFailure(MLSError):
    """A signature, MAC, AEAD or HPKE operation failed."""


class KatMismatch(MLSError):
    """The implementation disagrees with a known-answer test vector."""


class GenerationUnavailable(ValidationError):
    """A secret-tree key was already used, has left the out-of-order window, or is too
    far ahead (RFC 9420 §9.2): a replayed, very late or forged message."""
