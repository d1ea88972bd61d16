"""Every bound of the one-to-one protocol, each with the reason for its value.

The numbers follow libsignal's protocol crate (``consts.rs``) where it has an
equivalent, so a Sottovoce session tolerates the same delivery disorder as a
Signal one.
"""

# Largest plaintext a single message may carry. Text, reactions, receipts and
# small control payloads fit many times over; media travels as an encrypted
# attachment whose key is the message, so nothing legitimate comes close.
MAX_PLAINTEXT_LEN = 256 * 1024

# Double Ratchet §3.5 MAX_SKIP: how far ahead of the expected counter one message
# may claim to be within one chain (also bounds PN on a DH step). Deriving the
# keys in between costs one HMAC each, so 25,000 bounds the work a single
# forged header can cause to tens of milliseconds, while still accepting a
# burst of 25,000 messages lost or reordered in transit (libsignal
# MAX_FORWARD_JUMPS).
MAX_SKIP = 25_000

# Double Ratchet §2.6/§6.4: skipped message keys kept for late messages across
# all chains of a session. Each entry is 68 bytes of state; 2,000 keeps a
# session record under 150 KB while covering any realistic reordering window.
# When full the oldest key is evicted (libsignal MAX_MESSAGE_KEYS).
MAX_STORED_SKIPPED_KEYS = 2_000

# Earlier receiving ratchet keys remembered so that a replayed message from an
# old chain is reported as a duplicate instead of being taken for a new DH step.
# Five chains cover a peer that sent several replies while ours were in flight
# (libsignal MAX_RECEIVER_CHAINS).
MAX_PREVIOUS_RECEIVING_CHAINS = 5

# Message counters are u32 on the wire (Double Ratchet §3.4 header N and PN), and
# the next expected counter must fit too, so the last usable counter is one less.
# A chain never gets near this: the peer ratchets on every reply.
MAX_COUNTER = 0xFFFF_FFFF

# Prekey ids are u32 on the wire, as in libsignal.
MAX_PREKEY_ID = 0xFFFF_FFFF

# Upper bound on a serialized session record: fixed fields plus the full
# skipped-key store and a pending PreKey header with its ML-KEM ciphertext.
# Anything larger read back from storage is corrupt, not merely unusual.
MAX_SESSION_STATE_LEN = 4096 + MAX_STORED_SKIPPED_KEYS * (32 + 4 + 32)
