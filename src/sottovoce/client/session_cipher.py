"""Choosing the session that encrypts to, or decrypts from, one peer device.

Sans-I/O: it reads and changes a :class:`SessionRecord` in memory and leaves
storing it (with everything else a message changes) to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.client.errors import InvalidMessage
from sottovoce.client.session_record import SessionRecord
from sottovoce.protocol.errors import ProtocolError
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.prekeys import PreKeyStore
from sottovoce.protocol.public.device_list import DeviceEntry
from sottovoce.protocol.public.identity import PublicIdentity
from sottovoce.protocol.session import InboundSession, Session
from sottovoce.protocol.wire import MessageType, decode_prekey_message


@dataclass(frozen=True, slots=True)
class Decrypted:
    """A decrypted message, the session that opened it (now the record's current
    one), and, for a new PQXDH run, the prekeys it used up."""

    session: Session
    plaintext: bytes
    inbound: InboundSession | None

    def __repr__(self) -> str:
        return f"Decrypted(plaintext=<{len(self.plaintext)} bytes>)"


def sending_session(record: SessionRecord, entry: DeviceEntry) -> Session | None:
    """The current session, if it is with the identity the device list names now."""
    current = record.current
    return current if current is not None and current.remote_identity == entry.identity else None


def claimed_identity(
    record: SessionRecord, kind: MessageType, message: bytes
) -> PublicIdentity | None:
    """Who a message says it comes from: the PreKey header's identity, else the peer
    of the session it would be decrypted with."""
    if kind is MessageType.PREKEY:
        return PublicIdentity.from_bytes(decode_prekey_message(message).identity)
    return None if record.current is None else record.current.remote_identity


def decrypt(
    record: SessionRecord,
    own: IdentityKeyPair,
    prekeys: PreKeyStore,
    kind: MessageType,
    message: bytes,
) -> Decrypted:
    """Decrypt with one of the record's sessions, or start a session from a PreKey
    message of a new run (PQXDH §3.4). Raises ProtocolError or InvalidMessage."""
    if kind is MessageType.PREKEY:
        known = next((s for s in record.sessions() if s.matches_prekey_message(message)), None)
        if known is None:
            inbound = Session.respond(own, prekeys, message)
            record.use(inbound.session)
            return Decrypted(inbound.session, inbound.plaintext, inbound)
        # The initiator repeats its PreKey header until it hears back.
        plaintext = known.decrypt(message)
        record.use(known)
        return Decrypted(known, plaintext, None)
    session, plaintext = _decrypt_with_any(record, message)
    record.use(session)
    return Decrypted(session, plaintext, None)


def _decrypt_with_any(record: SessionRecord, message: bytes) -> tuple[Session, bytes]:
    """The current session first, then the archived ones (see ``session_record``).
    A failed attempt leaves a session unchanged, so trying several is safe; the
    current session's error is the one reported."""
    sessions = record.sessions()
    if not sessions:
        raise InvalidMessage(f"there is no session with {record.name} to decrypt its message")
    errors: list[ProtocolError] = []
    for session in sessions:
        try:
            return session, session.decrypt(message)
        except ProtocolError as exc:
            errors.append(exc)
    raise errors[0]
