"""A one-to-one session: PQXDH starts it, the Double Ratchet carries every message.

Sans-I/O in the h11 sense: the caller hands in wire bytes and gets plaintext or
wire bytes back, and persists ``to_bytes()`` wherever it keeps state. Decryption
is all-or-nothing: every new key is computed into locals and the session's fields
are assigned only after the AEAD has authenticated the message and its padding
is valid, so a failed ``decrypt`` leaves the session exactly as it was.

The Double Ratchet spec's state variables (§3.2) map to fields as follows:
DHs -> ``_sending_key``, DHr -> ``_receiving_key``, RK -> ``_root_key``,
CKs/CKr -> ``_sending_chain``/``_receiving_chain``, Ns/Nr/PN ->
``_sent``/``_received``/``_previous_sent``, MKSKIPPED -> ``_skipped``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sottovoce.crypto import dh
from sottovoce.crypto.errors import CryptoError, DecryptionFailed
from sottovoce.protocol import pqxdh
from sottovoce.protocol.bundle import PreKeyBundle
from sottovoce.protocol.encoding import Reader, check_version
from sottovoce.protocol.errors import (
    DecodeError,
    DecryptionError,
    DuplicateMessage,
    PlaintextTooLarge,
    SessionStateError,
    TooManySkippedMessages,
)
from sottovoce.protocol.identity import IdentityKeyPair
from sottovoce.protocol.limits import (
    MAX_COUNTER,
    MAX_PLAINTEXT_LEN,
    MAX_PREVIOUS_RECEIVING_CHAINS,
    MAX_SESSION_STATE_LEN,
    MAX_SKIP,
    MAX_STORED_SKIPPED_KEYS,
)
from sottovoce.protocol.padding import pad, unpad
from sottovoce.protocol.prekeys import PreKeyStore
from sottovoce.protocol.public.identity import (
    IDENTITY_VERSION,
    PUBLIC_IDENTITY_LEN,
    PublicIdentity,
)
from sottovoce.protocol.ratchet import (
    CHAIN_KEY_LEN,
    MESSAGE_KEY_LEN,
    ROOT_KEY_LEN,
    kdf_ck,
    kdf_rk,
    message_cipher,
    next_chain_key,
)
from sottovoce.protocol.wire import (
    MAX_PREKEY_HEADER_LEN,
    PREKEY_PREFIX,
    RATCHET_PREFIX,
    RatchetMessage,
    decode_prekey_message,
    decode_ratchet_message,
    encode_prekey_header,
    prekey_message_base_key,
    ratchet_header_prefix,
)

_STATE_VERSION = 1
_FLAG_INITIATOR = 0x01
_FLAG_RECEIVING = 0x02
_FLAG_PREKEY = 0x04
_KNOWN_FLAGS = _FLAG_INITIATOR | _FLAG_RECEIVING | _FLAG_PREKEY

# One skipped key: which chain (the peer's ratchet key) and position, and the key.
_Slot = tuple[bytes, int]
_SkippedKeys = list[tuple[_Slot, bytes]]


@dataclass(frozen=True, slots=True)
class InboundSession:
    """A session created by a PreKey message, with what the caller must now delete.

    Store ``session`` and delete the one-time prekeys (``one_time_prekey_id`` and,
    unless ``kem_prekey_last_resort``, ``kem_prekey_id``) in one transaction
    (PQXDH §3.4), so a replayed PreKey message cannot open a second session.
    """

    session: Session
    plaintext: bytes
    one_time_prekey_id: int | None
    kem_prekey_id: int
    kem_prekey_last_resort: bool

    def __repr__(self) -> str:
        return (
            f"InboundSession(one_time_prekey_id={self.one_time_prekey_id}, "
            f"kem_prekey_id={self.kem_prekey_id}, plaintext=<{len(self.plaintext)} bytes>)"
        )


def _skip(chain: bytes, ratchet_key: bytes, start: int, until: int) -> tuple[_SkippedKeys, bytes]:
    """§3.5 SkipMessageKeys into a new list: keys for positions start..until-1 of a chain.

    Positions older than the last MAX_STORED_SKIPPED_KEYS would be evicted on
    insertion, so for them only the chain key is advanced.
    """
    if until - start > MAX_SKIP:
        raise TooManySkippedMessages(
            f"message is {until - start} positions ahead in its chain, more than {MAX_SKIP}"
        )
    first_kept = max(start, until - MAX_STORED_SKIPPED_KEYS)
    for _ in range(start, first_kept):
        chain = next_chain_key(chain)
    keys: _SkippedKeys = []
    for position in range(first_kept, until):
        chain, message_key = kdf_ck(chain)
        keys.append(((ratchet_key, position), message_key))
    return keys, chain


def _stored_identity(data: bytes) -> PublicIdentity:
    """A PublicIdentity from the session's own storage: its binding was verified on entry."""
    if data[0] != IDENTITY_VERSION:
        raise DecodeError(f"session state holds an identity of unknown version {data[0]}")
    return PublicIdentity(data[1:33], data[33:65], data[65:129])


class Session:
    """One device's half of a one-to-one conversation with one peer device."""

    __slots__ = (
        "_ad",
        "_base_key",
        "_header_prefix",
        "_initiator",
        "_local",
        "_prekey_header",
        "_previous_receiving_keys",
        "_previous_sent",
        "_received",
        "_receiving_chain",
        "_receiving_key",
        "_remote",
        "_root_key",
        "_sending_chain",
        "_sending_key",
        "_sent",
        "_skipped",
    )

    def __init__(
        self,
        *,
        initiator: bool,
        local: PublicIdentity,
        remote: PublicIdentity,
        base_key: bytes,
        root_key: bytes,
        sending_key: dh.DHKeyPair,
        sending_chain: bytes | None,
        prekey_header: bytes | None,
    ) -> None:
        self._initiator = initiator
        self._local = local
        self._remote = remote
        self._ad = (
            pqxdh.associated_data(local, remote)
            if initiator
            else pqxdh.associated_data(remote, local)
        )
        self._base_key = base_key
        self._root_key = root_key
        self._sending_key = sending_key
        self._sending_chain = sending_chain
        self._receiving_key: bytes | None = None
        self._receiving_chain: bytes | None = None
        self._sent = 0
        self._received = 0
        self._previous_sent = 0
        self._skipped: dict[_Slot, bytes] = {}
        self._previous_receiving_keys: list[bytes] = []
        self._prekey_header = prekey_header
        self._header_prefix = ratchet_header_prefix(sending_key.public, 0)

    # -- creation ---------------------------------------------------------------

    @classmethod
    def initiate(cls, own: IdentityKeyPair, bundle: PreKeyBundle) -> Session:
        """PQXDH §3.3 then RatchetInitAlice (Double Ratchet §3.3, §5.1: SPK_B is DHr).

        The bundle is verified first. Until a reply from the peer decrypts, every
        ``encrypt`` produces a PreKey message carrying IK_A, EK_A, CT and the ids.
        """
        bundle.verify()
        agreement = pqxdh.initiate(own, bundle)
        sending_key = dh.DHKeyPair.generate()
        root_key, sending_chain = kdf_rk(
            agreement.shared_secret, sending_key.exchange(bundle.signed_prekey)
        )
        prekey_header = encode_prekey_header(
            own.public.to_bytes(),
            agreement.base_key,
            bundle.signed_prekey_id,
            bundle.kem_prekey_id,
            bundle.one_time_prekey_id,
            agreement.kem_ciphertext,
        )
        # DHr stays unset rather than SPK_B: Alice has no receiving chain yet, and
        # the first reply always carries a new ratchet key, so nothing compares to it.
        return cls(
            initiator=True,
            local=own.public,
            remote=bundle.identity,
            base_key=agreement.base_key,
            root_key=root_key,
            sending_key=sending_key,
            sending_chain=sending_chain,
            prekey_header=prekey_header,
        )

    @classmethod
    def respond(cls, own: IdentityKeyPair, store: PreKeyStore, message: bytes) -> InboundSession:
        """PQXDH §3.4 and RatchetInitBob, then decrypt the PreKey message's payload.

        For a PreKey message that matches no existing session. Raises
        :class:`DecodeError`, :class:`VerificationError` (IK_A binding),
        :class:`UnknownPreKey` or :class:`DecryptionError`; nothing is returned
        unless the initial ciphertext authenticated.
        """
        prekey = decode_prekey_message(message)
        initiator = PublicIdentity.from_bytes(prekey.identity)
        signed_prekey = store.signed_prekey(prekey.signed_prekey_id)
        kem_prekey = store.kem_prekey(prekey.kem_prekey_id)
        one_time_prekey = (
            None
            if prekey.one_time_prekey_id is None
            else store.one_time_prekey(prekey.one_time_prekey_id)
        )
        shared_secret = pqxdh.respond(
            own,
            initiator,
            prekey.base_key,
            signed_prekey,
            one_time_prekey,
            kem_prekey,
            prekey.kem_ciphertext,
        )
        session = cls(
            initiator=False,
            local=own.public,
            remote=initiator,
            base_key=prekey.base_key,
            root_key=shared_secret,
            sending_key=signed_prekey.key_pair,
            sending_chain=None,
            prekey_header=None,
        )
        plaintext = session._decrypt(prekey.message)
        return InboundSession(
            session,
            plaintext,
            prekey.one_time_prekey_id,
            kem_prekey.key_id,
            kem_prekey.last_resort,
        )

    # -- identities -------------------------------------------------------------

    @property
    def remote_identity(self) -> PublicIdentity:
        """The peer's identity, for pinning and safety numbers (the client's job)."""
        return self._remote

    @property
    def local_identity_public(self) -> PublicIdentity:
        return self._local

    @property
    def awaiting_reply(self) -> bool:
        """True while ``encrypt`` still produces PreKey messages (no reply decrypted yet)."""
        return self._prekey_header is not None

    def matches_prekey_message(self, message: bytes) -> bool:
        """Whether a PreKey message comes from the PQXDH run that created this session.

        Compares the base key EK_A and the initiator identity; raises
        :class:`DecodeError` if ``message`` is not a PreKey message at all.
        """
        if prekey_message_base_key(message) != self._base_key:
            return False
        return self._remote.to_bytes() == message[2 : 2 + PUBLIC_IDENTITY_LEN]

    # -- messages ---------------------------------------------------------------

    def encrypt(self, plaintext: bytes) -> bytes:
        """Double Ratchet §3.4 RatchetEncrypt: a padded wire message (PreKey until a reply)."""
        if len(plaintext) > MAX_PLAINTEXT_LEN:
            raise PlaintextTooLarge(
                f"plaintext is {len(plaintext)} bytes, more than {MAX_PLAINTEXT_LEN}"
            )
        chain = self._sending_chain
        if chain is None:
            raise SessionStateError("session has no sending chain yet")
        counter = self._sent
        if counter >= MAX_COUNTER:
            raise SessionStateError("sending chain is exhausted; the peer must reply first")
        header = self._header_prefix + counter.to_bytes(4, "big")
        next_chain, message_key = kdf_ck(chain)
        cipher, nonce = message_cipher(message_key)
        body = header + cipher.seal(nonce, pad(plaintext), self._ad + header)
        self._sending_chain = next_chain
        self._sent = counter + 1
        if self._prekey_header is not None:
            return self._prekey_header + body
        return body

    def decrypt(self, message: bytes) -> bytes:
        """Double Ratchet §3.5 RatchetDecrypt; on any error the session is unchanged.

        Accepts ratchet messages and PreKey messages of this session's own PQXDH
        run (the initiator resends them until it hears back). Raises
        :class:`DecodeError`, :class:`SessionStateError` (a PreKey message of
        another run), :class:`DuplicateMessage`, :class:`TooManySkippedMessages`
        or :class:`DecryptionError`.
        """
        if message[:2] == RATCHET_PREFIX:
            return self._decrypt(decode_ratchet_message(message))
        prekey = decode_prekey_message(message)
        if prekey.base_key != self._base_key or prekey.identity != self._remote.to_bytes():
            raise SessionStateError("PreKey message belongs to a different session")
        return self._decrypt(prekey.message)

    def _decrypt(self, message: RatchetMessage) -> bytes:
        ratchet_key = message.ratchet_key
        counter = message.counter
        if counter >= MAX_COUNTER:
            raise DecryptionError(f"message counter {counter} is beyond the last usable one")
        if ratchet_key == self._receiving_key:
            chain = self._receiving_chain
            assert chain is not None  # set together with _receiving_key
            received = self._received
            if counter == received:
                next_chain, message_key = kdf_ck(chain)
                plaintext = self._open(message_key, message)
                self._receiving_chain = next_chain
                self._received = counter + 1
                return plaintext
            if counter > received:
                skipped, chain = _skip(chain, ratchet_key, received, counter)
                next_chain, message_key = kdf_ck(chain)
                plaintext = self._open(message_key, message)
                self._store_skipped(skipped)
                self._receiving_chain = next_chain
                self._received = counter + 1
                return plaintext
            return self._decrypt_skipped(message)
        if (ratchet_key, counter) in self._skipped:
            return self._decrypt_skipped(message)
        if ratchet_key in self._previous_receiving_keys:
            raise DuplicateMessage(
                f"message {counter} of an earlier chain was already decrypted or its key discarded"
            )
        return self._decrypt_with_dh_step(message)

    def _decrypt_skipped(self, message: RatchetMessage) -> bytes:
        """§3.5 TrySkippedMessageKeys: a late message whose key was stored when skipped."""
        slot = (message.ratchet_key, message.counter)
        message_key = self._skipped.get(slot)
        if message_key is None:
            raise DuplicateMessage(
                f"message {message.counter} was already decrypted or its key discarded"
            )
        plaintext = self._open(message_key, message)
        del self._skipped[slot]
        self._prekey_header = None
        return plaintext

    def _decrypt_with_dh_step(self, message: RatchetMessage) -> bytes:
        """§3.5: skip to PN on the current chain, DHRatchet, skip to N on the new one."""
        ratchet_key = message.ratchet_key
        skipped: _SkippedKeys = []
        if self._receiving_chain is not None and self._receiving_key is not None:
            skipped, _ = _skip(
                self._receiving_chain,
                self._receiving_key,
                self._received,
                max(self._received, message.previous_counter),
            )
        try:
            dh_out = self._sending_key.exchange(ratchet_key)
        except CryptoError:
            raise DecryptionError("message ratchet key is not a usable X25519 key") from None
        root_key, chain = kdf_rk(self._root_key, dh_out)
        new_skipped, chain = _skip(chain, ratchet_key, 0, message.counter)
        receiving_chain, message_key = kdf_ck(chain)
        plaintext = self._open(message_key, message)
        # Authenticated: finish DHRatchet (§3.5) with a fresh sending key, then commit.
        sending_key = dh.DHKeyPair.generate()
        root_key, sending_chain = kdf_rk(root_key, sending_key.exchange(ratchet_key))
        if self._receiving_key is not None:
            previous = self._previous_receiving_keys
            previous.append(self._receiving_key)
            del previous[:-MAX_PREVIOUS_RECEIVING_CHAINS]
        self._store_skipped(skipped)
        self._store_skipped(new_skipped)
        self._previous_sent = self._sent
        self._header_prefix = ratchet_header_prefix(sending_key.public, self._sent)
        self._sent = 0
        self._received = message.counter + 1
        self._receiving_key = ratchet_key
        self._receiving_chain = receiving_chain
        self._root_key = root_key
        self._sending_key = sending_key
        self._sending_chain = sending_chain
        self._prekey_header = None
        return plaintext

    def _open(self, message_key: bytes, message: RatchetMessage) -> bytes:
        """§3.4 DECRYPT(mk, ciphertext, CONCAT(AD, header)), then unpad. Pure: no state change."""
        cipher, nonce = message_cipher(message_key)
        try:
            padded = cipher.open(nonce, message.ciphertext, self._ad + message.header)
        except DecryptionFailed:
            raise DecryptionError("message failed authentication") from None
        return unpad(padded)

    def _store_skipped(self, keys: _SkippedKeys) -> None:
        """Add skipped keys, evicting the oldest beyond MAX_STORED_SKIPPED_KEYS (§6.4)."""
        if not keys:
            return
        store = self._skipped
        store.update(keys)
        for _ in range(len(store) - MAX_STORED_SKIPPED_KEYS):
            del store[next(iter(store))]

    # -- persistence ------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The whole session state, versioned; it holds secrets, so store it encrypted.

        Layout (big-endian): u8 version | u8 flags | local identity (129) |
        remote identity (129) | base key (32) | root key (32) | sending private
        key (32) | sending chain (32) | [receiving key (32) | receiving chain (32)]
        | u32 sent | u32 received | u32 previous sent | u8 count | count x earlier
        receiving key (32) | [u16 length | PreKey header] | u16 count | count x
        (ratchet key (32) | u32 position | message key (32)), oldest first.
        """
        if self._sending_chain is None:
            raise SessionStateError("a session without a sending chain is never stored")
        flags = _FLAG_INITIATOR if self._initiator else 0
        parts = [
            b"",
            self._local.to_bytes(),
            self._remote.to_bytes(),
            self._base_key,
            self._root_key,
            self._sending_key.private_bytes(),
            self._sending_chain,
        ]
        if self._receiving_key is not None and self._receiving_chain is not None:
            flags |= _FLAG_RECEIVING
            parts += (self._receiving_key, self._receiving_chain)
        parts.append(
            b"".join(
                n.to_bytes(4, "big") for n in (self._sent, self._received, self._previous_sent)
            )
        )
        parts.append(len(self._previous_receiving_keys).to_bytes(1, "big"))
        parts += self._previous_receiving_keys
        if self._prekey_header is not None:
            flags |= _FLAG_PREKEY
            parts += (len(self._prekey_header).to_bytes(2, "big"), self._prekey_header)
        parts.append(len(self._skipped).to_bytes(2, "big"))
        for (ratchet_key, position), message_key in self._skipped.items():
            parts += (ratchet_key, position.to_bytes(4, "big"), message_key)
        parts[0] = bytes([_STATE_VERSION, flags])
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Session:
        """Inverse of ``to_bytes``; any malformed or oversized record is a DecodeError."""
        if len(data) > MAX_SESSION_STATE_LEN:
            raise DecodeError(
                f"session state is {len(data)} bytes, more than {MAX_SESSION_STATE_LEN}"
            )
        reader = Reader(data, "session state")
        check_version(reader.u8("version"), _STATE_VERSION, "session state")
        flags = reader.u8("flags")
        if flags & ~_KNOWN_FLAGS:
            raise DecodeError(f"session state has unknown flags {flags:#04x}")
        local = _stored_identity(reader.fixed(PUBLIC_IDENTITY_LEN, "local identity"))
        remote = _stored_identity(reader.fixed(PUBLIC_IDENTITY_LEN, "remote identity"))
        base_key = reader.fixed(dh.PUBLIC_KEY_LEN, "base key")
        root_key = reader.fixed(ROOT_KEY_LEN, "root key")
        try:
            sending_key = dh.DHKeyPair.from_bytes(
                reader.fixed(dh.PRIVATE_KEY_LEN, "sending ratchet key")
            )
        except CryptoError as exc:
            raise DecodeError("session state holds an invalid sending ratchet key") from exc
        sending_chain = reader.fixed(CHAIN_KEY_LEN, "sending chain key")
        receiving_key = receiving_chain = None
        if flags & _FLAG_RECEIVING:
            receiving_key = reader.fixed(dh.PUBLIC_KEY_LEN, "receiving ratchet key")
            receiving_chain = reader.fixed(CHAIN_KEY_LEN, "receiving chain key")
        sent = reader.u32("sent counter")
        received = reader.u32("received counter")
        previous_sent = reader.u32("previous sent counter")
        previous_count = reader.u8("earlier receiving key count")
        if previous_count > MAX_PREVIOUS_RECEIVING_CHAINS:
            raise DecodeError(
                f"session state lists {previous_count} earlier receiving keys, "
                f"more than {MAX_PREVIOUS_RECEIVING_CHAINS}"
            )
        previous_keys = [
            reader.fixed(dh.PUBLIC_KEY_LEN, "earlier receiving key") for _ in range(previous_count)
        ]
        prekey_header = None
        if flags & _FLAG_PREKEY:
            length = reader.u16("PreKey header length")
            if length > MAX_PREKEY_HEADER_LEN:
                raise DecodeError(f"session state PreKey header is {length} bytes, too long")
            prekey_header = reader.fixed(length, "PreKey header")
            if not prekey_header.startswith(PREKEY_PREFIX):
                raise DecodeError("session state PreKey header has the wrong prefix")
        skipped_count = reader.u16("skipped key count")
        if skipped_count > MAX_STORED_SKIPPED_KEYS:
            raise DecodeError(
                f"session state holds {skipped_count} skipped keys, "
                f"more than {MAX_STORED_SKIPPED_KEYS}"
            )
        skipped: dict[_Slot, bytes] = {}
        for _ in range(skipped_count):
            ratchet_key = reader.fixed(dh.PUBLIC_KEY_LEN, "skipped key chain")
            position = reader.u32("skipped key position")
            skipped[ratchet_key, position] = reader.fixed(MESSAGE_KEY_LEN, "skipped message key")
        reader.finish()
        if len(skipped) != skipped_count:
            raise DecodeError("session state repeats a skipped key")
        session = cls(
            initiator=bool(flags & _FLAG_INITIATOR),
            local=local,
            remote=remote,
            base_key=base_key,
            root_key=root_key,
            sending_key=sending_key,
            sending_chain=sending_chain,
            prekey_header=prekey_header,
        )
        session._receiving_key = receiving_key
        session._receiving_chain = receiving_chain
        session._sent = sent
        session._received = received
        session._previous_sent = previous_sent
        session._header_prefix = ratchet_header_prefix(sending_key.public, previous_sent)
        session._previous_receiving_keys = previous_keys
        session._skipped = skipped
        return session

    def __repr__(self) -> str:
        return (
            f"Session(remote={self._remote.sign_public.hex()[:16]}…, sent={self._sent}, "
            f"received={self._received}, skipped={len(self._skipped)})"
        )
