"""The code points of RFC 9420's IANA registries (§17) that select how a structure
continues on the wire. Values that are only listed (capabilities, extension types)
stay plain integers so GREASE (§13.5) and unknown values survive a round trip."""

from __future__ import annotations

import enum


class ProtocolVersion(enum.IntEnum):
    """§6 ProtocolVersion (uint16)."""

    MLS10 = 1


class WireFormat(enum.IntEnum):
    """§6, §17.2 Table 8 (uint16)."""

    PUBLIC_MESSAGE = 0x0001
    PRIVATE_MESSAGE = 0x0002
    WELCOME = 0x0003
    GROUP_INFO = 0x0004
    KEY_PACKAGE = 0x0005


class ContentType(enum.IntEnum):
    """§6 ContentType (uint8)."""

    APPLICATION = 1
    PROPOSAL = 2
    COMMIT = 3


class SenderType(enum.IntEnum):
    """§6 SenderType (uint8)."""

    MEMBER = 1
    EXTERNAL = 2
    NEW_MEMBER_PROPOSAL = 3
    NEW_MEMBER_COMMIT = 4


class CredentialType(enum.IntEnum):
    """§5.3, §17.5 (uint16)."""

    BASIC = 0x0001
    X509 = 0x0002


class ExtensionType(enum.IntEnum):
    """§17.3 Table 5 (uint16): the extensions RFC 9420 defines."""

    APPLICATION_ID = 0x0001
    RATCHET_TREE = 0x0002
    REQUIRED_CAPABILITIES = 0x0003
    EXTERNAL_PUB = 0x0004
    EXTERNAL_SENDERS = 0x0005


class ProposalType(enum.IntEnum):
    """§12.1, §17.4 Table 6 (uint16)."""

    ADD = 0x0001
    UPDATE = 0x0002
    REMOVE = 0x0003
    PSK = 0x0004
    REINIT = 0x0005
    EXTERNAL_INIT = 0x0006
    GROUP_CONTEXT_EXTENSIONS = 0x0007


class LeafNodeSource(enum.IntEnum):
    """§7.2 LeafNodeSource (uint8)."""

    KEY_PACKAGE = 1
    UPDATE = 2
    COMMIT = 3


class NodeType(enum.IntEnum):
    """§7.8 NodeType (uint8)."""

    LEAF = 1
    PARENT = 2


class ProposalOrRefType(enum.IntEnum):
    """§12.4 ProposalOrRefType (uint8)."""

    PROPOSAL = 1
    REFERENCE = 2


# §7.2, §12.1: the proposal and extension types every client supports without
# listing them in its Capabilities (the "default" ones).
DEFAULT_PROPOSAL_TYPES = frozenset(
    range(ProposalType.ADD, ProposalType.GROUP_CONTEXT_EXTENSIONS + 1)
)
DEFAULT_EXTENSION_TYPES = frozenset(
    range(ExtensionType.APPLICATION_ID, ExtensionType.EXTERNAL_SENDERS + 1)
)
