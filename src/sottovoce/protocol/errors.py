"""The protocol layer's typed errors. Messages say what was wrong, never key material."""


class ProtocolError(Exception):
    """Base class for every protocol failure."""


class DecodeError(ProtocolError):
    """Bytes do not parse as the expected wire structure (short, long, bad version…)."""


class VerificationError(ProtocolError):
    """A signature, binding or proof did not verify."""
