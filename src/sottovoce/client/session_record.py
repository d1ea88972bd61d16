"""All sessions with one peer device: the current one and a few earlier ones.

When two devices start a session with each other at the same moment, each
ends up holding two: the one it initiated and the one it answered. Messages
may arrive on either until both sides settle on one, so, as libsignal's
``SessionRecord`` does, earlier sessions are kept and tried when the current
one cannot decrypt; the one that succeeds becomes current again.

Stored as two records of the local store: ``session`` holds the current
session's bytes, ``archived_sessions`` the earlier ones, newest first.
"""

from __future__ import annotations

import struct

from sottovoce.client.errors import ProfileError
from sottovoce.client.store import Store
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.limits import MAX_SESSION_STATE_LEN
from sottovoce.protocol.session import Session

SESSION = "session"
ARCHIVED = "archived_sessions"
# A simultaneous start leaves one extra session; a peer that reinstalls or races
# a few times more. Ten covers that with room while bounding the work one
# undecryptable message can cause (each archived session is tried once).
MAX_ARCHIVED_SESSIONS = 10
_COUNT = struct.Struct(">H")
_LENGTH = struct.Struct(">I")


def _load(raw: bytes) -> Session:
    try:
        return Session.from_bytes(raw)
    except ProtocolError as exc:
        raise ProfileError(f"a session record of the local store is damaged: {exc}") from exc


def _decode_archive(data: bytes) -> list[Session]:
    if len(data) < _COUNT.size:
        raise ProfileError("the archived sessions of the local store are truncated")
    (count,) = _COUNT.unpack_from(data)
    sessions, pos = [], _COUNT.size
    for _ in range(count):
        if len(data) < pos + _LENGTH.size:
            raise ProfileError("the archived sessions of the local store are truncated")
        (length,) = _LENGTH.unpack_from(data, pos)
        pos += _LENGTH.size
        if length > MAX_SESSION_STATE_LEN or len(data) < pos + length:
            raise ProfileError("an archived session of the local store has a bad length")
        sessions.append(_load(data[pos : pos + length]))
        pos += length
    if pos != len(data):
        raise ProfileError("the archived sessions of the local store have trailing bytes")
    return sessions


def _encode_archive(sessions: list[Session]) -> bytes:
    parts = [_COUNT.pack(len(sessions))]
    for session in sessions:
        state = session.to_bytes()
        parts += [_LENGTH.pack(len(state)), state]
    return b"".join(parts)


class SessionRecord:
    """The sessions with one device of one peer, loaded from and saved to the store."""

    def __init__(self, name: str, current: Session | None, archived: list[Session]) -> None:
        self.name = name
        self.current = current
        self.archived = archived

    @classmethod
    def load(cls, store: Store, address: str, device_id: int) -> SessionRecord:
        name = f"{address}/{device_id}"
        current = store.get(SESSION, name)
        archive = store.get(ARCHIVED, name)
        return cls(
            name,
            None if current is None else _load(current),
            [] if archive is None else _decode_archive(archive),
        )

    def sessions(self) -> list[Session]:
        """Every session to try, the current one first."""
        return ([self.current] if self.current is not None else []) + self.archived

    def use(self, session: Session) -> None:
        """Make ``session`` (new, or one of ours) current; the previous current one
        is archived, the oldest archived one dropped beyond the bound."""
        if session is self.current:
            return
        archived = [s for s in self.archived if s is not session]
        if self.current is not None:
            archived.insert(0, self.current)
        self.current = session
        self.archived = archived[:MAX_ARCHIVED_SESSIONS]

    def save(self, store: Store) -> None:
        """Write the record back (inside the caller's transaction)."""
        if self.current is None:
            store.delete(SESSION, self.name)
        else:
            store.put(SESSION, self.name, self.current.to_bytes())
        if self.archived:
            store.put(ARCHIVED, self.name, _encode_archive(self.archived))
        else:
            store.delete(ARCHIVED, self.name)

    @staticmethod
    def delete(store: Store, address: str, device_id: int) -> None:
        store.delete(SESSION, f"{address}/{device_id}")
        store.delete(ARCHIVED, f"{address}/{device_id}")

    def __repr__(self) -> str:
        return f"SessionRecord({self.name}, archived={len(self.archived)})"
