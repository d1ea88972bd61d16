"""The MLS group state machine (RFC 9420 §10-§14), sans-I/O: bytes in, bytes out.

Public API (everything a client SDK or Delivery Service test needs)::

    from sottovoce.mls.group import Group, GroupConfig, KeyPackageBundle

KeyPackages (§10)
    ``KeyPackageBundle.create(suite_id, identity, signer, *, lifetime_s=...,
    last_resort=False)`` makes a signed KeyPackage plus its private keys.
    ``bundle.public_bytes()`` is the MLSMessage to upload to the directory,
    ``bundle.ref`` its KeyPackageRef, ``bundle.last_resort`` whether it may be
    handed out more than once;
    ``bundle.to_bytes()`` / ``KeyPackageBundle.from_bytes()`` for the device's
    encrypted store. ``identity`` is ``bytes(DeviceIdentity(address, device_id))``
    (:mod:`.credentials`).

Creating and joining
    ``Group.create(suite_id, group_id, identity, signer, *, extensions=(), config=None)``
    (§11); ``Group.join(welcome, bundle, *, ratchet_tree=None, external_psks=None,
    reinit_from=None, config=None)`` (§12.4.3.1);
    ``Group.join_external(group_info, identity, signer, *, resync_leaf=None)``
    returns ``(group, commit)`` (§12.4.3.2): send the commit, keep the group once
    the Delivery Service accepts it.

Changing the group (§12.1, §12.4)
    ``group.commit(*, add=[key_package...], remove=[leaf_index...], psks=[...],
    group_context_extensions=None, reinit=None, path=True)`` returns a
    :class:`CommitBundle` (``commit``, ``welcome`` or ``None``, ``epoch``): it
    commits every proposal received this epoch plus these inline.
    The group stays in its epoch until ``group.merge_pending_commit()`` (the
    Delivery Service accepted it) or ``group.discard_pending_commit()`` (another
    commit won: process that one, then commit again). ``commit()`` with no arguments
    is a self-update with path (post-compromise security). Proposals on their own:
    ``propose_add``, ``propose_remove``, ``propose_update``, ``propose_psk``,
    ``propose_group_context_extensions``, ``propose_reinit``: each returns the
    MLSMessage to send. ``discard_proposals()`` drops the received ones.

Reinitializing (§11.2)
    after a commit with a ReInit (``commit(reinit=ReInit(...))``) every member's
    group is inactive with ``group.reinit`` set; one member calls
    ``group.reinit_successor(key_packages)`` -> ``(new_group, CommitBundle)`` and
    the others ``Group.join(welcome, bundle, reinit_from=old_group)``.

Receiving
    ``group.process(message)`` returns one of :class:`ApplicationMessage`
    (``sender``, ``data``), :class:`ProposalReceived` (kept for the next commit) or
    :class:`CommitApplied` (``epoch``, ``committer``, ``added``, ``removed``,
    ``updated``, ``removed_self``). A message that breaks a rule raises a typed
    :class:`~sottovoce.mls.errors.MLSError` (``WrongEpoch`` for a stale commit,
    ``InvalidCommit``, ``InvalidProposal``, ``CryptoFailure``...) and changes nothing.

Application messages (§6.3)
    ``group.protect(data, authenticated_data=b"")`` returns a PrivateMessage;
    ``process`` opens it.

Policy
    ``GroupConfig(handshake_private=True, credential_check=None,
    ratchet_tree_in_welcome=True, clock=<system time>)``; for Sottovoce leaves
    ``credentials.check_device_credential`` checks the device identity format.

State
    ``group_id``, ``epoch``, ``own_leaf_index``, ``members()`` (:class:`Member`:
    ``leaf_index``, ``identity``, ``signature_key``), ``epoch_authenticator``,
    ``export_secret(label, context, length)``, ``group_info()``, ``ratchet_tree()``,
    ``is_active``, ``has_pending_commit``, ``pending_proposals()``;
    ``group.to_bytes()`` / ``Group.from_bytes(data, config=...)`` for the client's
    encrypted store (the config is not stored).
"""

from sottovoce.mls.group.group import Group, GroupConfig
from sottovoce.mls.group.key_packages import KeyPackageBundle
from sottovoce.mls.group.results import (
    ApplicationMessage,
    CommitApplied,
    CommitBundle,
    Member,
    ProposalReceived,
    Received,
)

__all__ = [
    "ApplicationMessage",
    "CommitApplied",
    "CommitBundle",
    "Group",
    "GroupConfig",
    "KeyPackageBundle",
    "Member",
    "ProposalReceived",
    "Received",
]
