"""The MLS group state machine (RFC 9420 §10–§14): key packages, proposals, commits,
joining by Welcome or external commit, and application messages."""
