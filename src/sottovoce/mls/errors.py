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


# --- the group state machine (RFC 9420 §10-§14) -----------------------------------------


class WrongEpoch(ValidationError):
    """A message belongs to another epoch of the group (RFC 9420 §6: its epoch is not the
    current one); for a commit, the Delivery Service's cue to rebase and retry."""


class WrongGroup(ValidationError):
    """A message names another group_id than this group's (RFC 9420 §6)."""


class InvalidProposal(ValidationError):
    """A proposal, or a commit's list of proposals, breaks a rule of RFC 9420 §12.1-§12.2."""


class InvalidCommit(ValidationError):
    """A commit breaks a rule of RFC 9420 §12.4 (path required, own commit, tags...)."""


class InvalidKeyPackage(ValidationError):
    """A KeyPackage fails the checks of RFC 9420 §10.1."""


class InvalidWelcome(ValidationError):
    """A Welcome or GroupInfo fails the joiner's checks of RFC 9420 §12.4.3.1-§12.4.3.2."""


class UnknownPsk(ValidationError):
    """A commit or Welcome names a pre-shared key this client does not hold (§8.4)."""


class GroupInactive(MLSError):
    """This member was removed, or the group was reinitialized: it can neither send nor
    process more messages (RFC 9420 §12.1.3, §12.1.5)."""
