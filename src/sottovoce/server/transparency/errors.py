"""Errors of the server's transparency log. Messages name what was wrong."""


class TransparencyLogError(Exception):
    """Base class for every failure of the transparency log."""


class OutOfRange(TransparencyLogError):
    """A leaf index or tree size beyond the log (or in the wrong order) was asked for."""


class StoreCorrupted(TransparencyLogError):
    """The persisted leaves, nodes and heads do not describe one log."""


class ClockWentBackwards(TransparencyLogError):
    """A tree head was to be signed with a time before the previous head's."""
