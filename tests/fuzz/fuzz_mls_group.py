"""Coverage-guided fuzzing of a group member's message processing with atheris
(RFC 9420 §6, §12.4.2).

A member of a three-member group is handed arbitrary bytes as an MLSMessage from
its group. It must refuse them with a typed MLSError and stay exactly where it was
(epoch, epoch_authenticator, kept proposals, members, pending commit); only the
genuine messages in :data:`SEEDS` are accepted (and then undone). Anything else —
another exception, a changed state after a refusal — is a crash atheris reports.

Run (``pip install -e '.[fuzz]'`` first)::

    .venv/bin/python tests/fuzz/fuzz_mls_group.py -atheris_runs=100000

``tests/fuzz/test_fuzz_group_target.py`` runs :func:`one_input` on the seeds, on
damaged seeds and on random bytes in the ordinary test suite.
"""

from __future__ import annotations

import sys

from sottovoce.crypto import signing
from sottovoce.mls.errors import MLSError
from sottovoce.mls.group import Group, GroupConfig, KeyPackageBundle


def _identity(n: int) -> bytes:
    return f"fuzz{n}@chat/1".encode()


def _build() -> tuple[Group, list[Group], list[bytes]]:
    """Member 2 of a group of three, the other two, and genuine messages for it."""
    config = GroupConfig(handshake_private=False)
    creator = Group.create(
        1, b"fuzz group", _identity(0), signing.SigningKey.generate(), config=config
    )
    bundles = [
        KeyPackageBundle.create(1, _identity(n), signing.SigningKey.generate()) for n in (1, 2)
    ]
    commit = creator.commit(add=[bundle.key_package for bundle in bundles])
    creator.merge_pending_commit()
    assert commit.welcome is not None
    other, member = (Group.join(commit.welcome, bundle, config=config) for bundle in bundles)
    seeds = [creator.protect(b"application data"), other.propose_remove(0)]
    seeds.append(creator.commit().commit)  # commits the Remove by reference
    creator.discard_pending_commit()
    private = GroupConfig(handshake_private=True)
    seeds.append(Group.from_bytes(other.to_bytes(), config=private).propose_update())
    return member, [creator, other], seeds


MEMBER, OTHERS, SEEDS = _build()
STATE = MEMBER.to_bytes()


def _summary(group: Group) -> tuple[object, ...]:
    return (
        group.epoch,
        group.epoch_authenticator,
        [proposal.ref for proposal in group.pending_proposals()],
        group.members(),
        group.has_pending_commit,
    )


SUMMARY = _summary(MEMBER)


def one_input(data: bytes) -> None:
    """One fuzzing iteration; raises only on a real bug."""
    global MEMBER
    try:
        MEMBER.process(data)
    except MLSError:
        if _summary(MEMBER) != SUMMARY:
            raise AssertionError("a refused message changed the group") from None
        return
    if data not in SEEDS:
        raise AssertionError("a message that is not genuine was accepted")
    MEMBER = Group.from_bytes(STATE)


def main() -> None:
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
