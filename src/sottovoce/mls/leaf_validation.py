"""Leaf node validation (RFC 9420 §7.3): may this LeafNode stand in this group?

:func:`validate_leaf_node` runs every step of §7.3 on one leaf: credential (through
the application's callback, §5.3.1), signature with its label and context, the
group's required capabilities, credential types shared with every member, lifetime,
extensions listed in the leaf's own capabilities, the leaf_node_source expected
where it appears, and signature and encryption keys unique among the members.
:func:`validate_tree_leaves` runs it over every member of a tree a client joins.
Each failure is a :class:`ValidationError` naming the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sottovoce.mls.ciphersuite import CipherSuite
from sottovoce.mls.errors import CryptoFailure, DecodeError, ValidationError
from sottovoce.mls.ratchet_tree import RatchetTree
from sottovoce.mls.wire.credentials import Credential
from sottovoce.mls.wire.extensions import Extension, RequiredCapabilities, find_extension
from sottovoce.mls.wire.leaf_node import LeafNode
from sottovoce.mls.wire.registry import (
    DEFAULT_EXTENSION_TYPES,
    DEFAULT_PROPOSAL_TYPES,
    ExtensionType,
    LeafNodeSource,
)

CredentialCheck = Callable[[Credential, bytes], None]
"""§5.3.1: the application's check that a credential vouches for a signature key;
raises :class:`ValidationError` (or another :class:`MLSError`) if it does not."""


@dataclass(frozen=True, slots=True)
class GroupParameters:
    """What §7.3 checks a leaf against: the group's id, cipher suite, protocol version
    and GroupContext extensions, the time, the application's lifetime bound and its
    credential check."""

    group_id: bytes
    suite: CipherSuite
    extensions: Sequence[Extension] = ()
    version: int = 1
    now: int | None = None
    max_lifetime: int | None = None
    credential_check: CredentialCheck | None = None

    def required_capabilities(self) -> RequiredCapabilities | None:
        """§11.1: the GroupContext's required_capabilities extension, if any."""
        extension = find_extension(self.extensions, ExtensionType.REQUIRED_CAPABILITIES)
        if extension is None:
            return None
        try:
            return RequiredCapabilities.from_bytes(extension.extension_data)
        except DecodeError as exc:
            raise ValidationError(f"RFC 9420 §11.1: bad required_capabilities: {exc}") from exc


def validate_leaf_node(
    params: GroupParameters,
    tree: RatchetTree,
    leaf: LeafNode,
    *,
    source: LeafNodeSource,
    leaf_index: int | None = None,
    replaces: int | None = None,
) -> None:
    """§7.3 on ``leaf`` as it appears with ``source`` (key_package: in a KeyPackage or
    Add; update: in an Update proposal; commit: in an UpdatePath).

    ``leaf_index`` is the leaf's position, needed for the signature context of update
    and commit leaves; ``replaces`` is the member whose leaf this one replaces (it is
    left out of the checks against the other members).
    """
    _check_leaf_itself(params, leaf, source, leaf_index)
    credential_type = leaf.credential.credential_type
    for index, member in tree.members():
        if index == replaces:
            continue
        if credential_type not in member.capabilities.credentials:
            raise ValidationError(
                f"RFC 9420 §7.3: member {index} does not support credential type {credential_type}"
            )
        if member.credential.credential_type not in leaf.capabilities.credentials:
            raise ValidationError(
                f"RFC 9420 §7.3: leaf does not support the credential type of member {index}"
            )
        if member.signature_key == leaf.signature_key:
            raise ValidationError(f"RFC 9420 §7.3: signature_key is already used by member {index}")
        if member.encryption_key == leaf.encryption_key:
            raise ValidationError(
                f"RFC 9420 §7.3: encryption_key is already used by member {index}"
            )
    # §7.3 for Updates, and §7.5 for a commit's new leaf: "the same restrictions as
    # LeafNodes used in Update proposals". A leaf already in place is not compared
    # with itself.
    if source is not LeafNodeSource.KEY_PACKAGE and replaces is not None:
        old = tree.leaf(replaces)
        if old is not None and old != leaf and old.encryption_key == leaf.encryption_key:
            raise ValidationError(
                f"RFC 9420 §7.3: the {source.name.lower()} leaf must carry a new encryption_key"
            )


def validate_tree_leaves(params: GroupParameters, tree: RatchetTree) -> None:
    """§12.4.3.1: validate every non-blank leaf of a tree being joined (§7.3), with the
    checks between members done once over the whole tree."""
    in_use: set[int] = set()
    signature_keys: dict[bytes, int] = {}
    encryption_keys: dict[bytes, int] = {}
    for index, leaf in tree.members():
        _check_leaf_itself(params, leaf, leaf.leaf_node_source, index)
        in_use.add(leaf.credential.credential_type)
        for keys, key, name in (
            (signature_keys, leaf.signature_key, "signature_key"),
            (encryption_keys, leaf.encryption_key, "encryption_key"),
        ):
            if key in keys:
                raise ValidationError(
                    f"RFC 9420 §7.3: members {keys[key]} and {index} share a {name}"
                )
            keys[key] = index
    for index, leaf in tree.members():
        unsupported = in_use - set(leaf.capabilities.credentials)
        if unsupported:
            raise ValidationError(
                f"RFC 9420 §7.3: member {index} does not support credential types "
                f"{sorted(unsupported)} in use"
            )


def _check_leaf_itself(
    params: GroupParameters, leaf: LeafNode, source: LeafNodeSource, leaf_index: int | None
) -> None:
    """The §7.3 steps that need no other member: credential, source, signature,
    required capabilities, lifetime and extensions."""
    _check_credential(params, leaf)
    if leaf.leaf_node_source is not source:
        raise ValidationError(
            f"RFC 9420 §7.3: leaf_node_source is {leaf.leaf_node_source.name}, "
            f"expected {source.name}"
        )
    try:
        if source is LeafNodeSource.KEY_PACKAGE:
            leaf.verify_signature(params.suite)
        else:
            if leaf_index is None:
                raise ValueError("an update or commit leaf is validated at its leaf index")
            leaf.verify_signature(params.suite, params.group_id, leaf_index)
    except CryptoFailure as exc:
        raise ValidationError(f"RFC 9420 §7.3: LeafNode signature does not verify ({exc})") from exc
    _check_capabilities(params, leaf)
    _check_lifetime(params, leaf)
    _check_extensions(leaf)


def _check_credential(params: GroupParameters, leaf: LeafNode) -> None:
    if len(leaf.signature_key) != params.suite.signature_public_len:
        raise ValidationError(
            f"RFC 9420 §5.1.1: signature_key is {len(leaf.signature_key)} bytes, "
            f"expected {params.suite.signature_public_len}"
        )
    if len(leaf.encryption_key) != params.suite.hpke_public_len:
        raise ValidationError(
            f"RFC 9420 §5.1.1: encryption_key is {len(leaf.encryption_key)} bytes, "
            f"expected {params.suite.hpke_public_len}"
        )
    if params.credential_check is not None:
        params.credential_check(leaf.credential, leaf.signature_key)


def _check_capabilities(params: GroupParameters, leaf: LeafNode) -> None:
    capabilities = leaf.capabilities
    if params.version not in capabilities.versions:
        raise ValidationError(
            f"RFC 9420 §7.2: leaf does not list protocol version {params.version}"
        )
    if params.suite.id not in capabilities.cipher_suites:
        raise ValidationError(f"RFC 9420 §7.2: leaf does not list cipher suite {params.suite.id}")
    if leaf.credential.credential_type not in capabilities.credentials:
        raise ValidationError(
            "RFC 9420 §7.2: the leaf's credential type is not in its own capabilities"
        )
    required = params.required_capabilities()
    if required is None:
        return
    missing_extensions = set(required.extension_types) - set(capabilities.extensions)
    missing_extensions -= DEFAULT_EXTENSION_TYPES
    missing_proposals = set(required.proposal_types) - set(capabilities.proposals)
    missing_proposals -= DEFAULT_PROPOSAL_TYPES
    missing_credentials = set(required.credential_types) - set(capabilities.credentials)
    if missing_extensions or missing_proposals or missing_credentials:
        raise ValidationError(
            "RFC 9420 §7.3: leaf lacks required capabilities "
            f"(extensions {sorted(missing_extensions)}, proposals "
            f"{sorted(missing_proposals)}, credentials {sorted(missing_credentials)})"
        )


def _check_lifetime(params: GroupParameters, leaf: LeafNode) -> None:
    lifetime = leaf.lifetime
    if lifetime is None:
        return
    if lifetime.not_before > lifetime.not_after:
        raise ValidationError("RFC 9420 §7.2: lifetime ends before it begins")
    if params.max_lifetime is not None and (
        lifetime.not_after - lifetime.not_before > params.max_lifetime
    ):
        raise ValidationError(
            f"RFC 9420 §7.2: lifetime exceeds the application's {params.max_lifetime} s"
        )
    if params.now is not None and not lifetime.not_before <= params.now <= lifetime.not_after:
        raise ValidationError("RFC 9420 §7.3: the current time is outside the leaf's lifetime")


def _check_extensions(leaf: LeafNode) -> None:
    listed = set(leaf.capabilities.extensions) | DEFAULT_EXTENSION_TYPES
    for extension in leaf.extensions:
        if extension.extension_type not in listed:
            raise ValidationError(
                f"RFC 9420 §7.3: leaf carries extension {extension.extension_type} "
                "that its capabilities do not list"
            )
