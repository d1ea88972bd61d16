"""The protocol layer's typed errors. Messages say what was wrong, never key material."""


class ProtocolError(Exception):
    """Base class for every protocol failure."""


class DecodeError(ProtocolError):
    """Bytes do not parse as the expected wire structure (short, long, bad version…)."""


class PaddingError(DecodeError):
    """A decrypted plaintext does not end in well-formed padding."""


class VerificationError(ProtocolError):
    """A signature, binding or proof did not verify."""


class UnknownPreKey(ProtocolError):
    """A prekey id named by a peer is not (or no longer) held by the local store."""


class DecryptionError(ProtocolError):
    """A message failed authentication; the session it was offered to is unchanged."""


class DuplicateMessage(DecryptionError):
    """The message key for this message was already used (a replay) or discarded."""


class TooManySkippedMessages(DecryptionError):
    """A message claims a position further ahead than the skipped-key bound allows."""


class SessionStateError(ProtocolError):
    """The operation does not fit the session's state (e.g. a PreKey message of another session)."""


class PlaintextTooLarge(ProtocolError):
    """A plaintext exceeds ``limits.MAX_PLAINTEXT_LEN``."""
