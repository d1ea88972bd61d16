"""The server's tables: exactly the records DESIGN.md allows it to hold.

Days are whole days since the Unix epoch: the server keeps creation and last
connection by day, never finer. Queued messages are ciphertext the server cannot
read, held until the recipient device acknowledges them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

# Row ids that only ever grow and are never reused: 64-bit on PostgreSQL; on SQLite
# the column must be spelled INTEGER to alias the (already 64-bit) rowid.
GrowingId = BigInteger().with_variant(Integer, "sqlite")
# Device ids are u32 (protocol.public.device_list): BIGINT on PostgreSQL (migration
# 0009), whose INTEGER is signed 32-bit; SQLite's INTEGER holds 64 bits already.
DeviceId = BigInteger().with_variant(Integer, "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app", String(32), nullable=False),
    Column("handle", String(32), nullable=False),
    Column("account_key", LargeBinary, nullable=False),
    Column("device_list", LargeBinary, nullable=False),
    Column("device_list_version", BigInteger, nullable=False),
    Column("created_day", Integer, nullable=False),
    Column("is_minor", Boolean, nullable=False, default=False),
    UniqueConstraint("app", "handle", name="uq_accounts_app_handle"),
)

devices = Table(
    "devices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("device_id", DeviceId, nullable=False),
    Column("identity", LargeBinary, nullable=False),
    Column("created_day", Integer, nullable=False),
    Column("last_seen_day", Integer, nullable=False),
    UniqueConstraint("account_id", "device_id", name="uq_devices_account_device"),
)

# The device's current signed X25519 prekey and last-resort ML-KEM prekey.
signed_prekeys = Table(
    "signed_prekeys",
    metadata,
    Column("device_pk", Integer, ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("key_id", BigInteger, nullable=False),
    Column("public", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

# One-time prekeys (X25519 unsigned, ML-KEM signed); each is handed out once.
one_time_prekeys = Table(
    "one_time_prekeys",
    metadata,
    Column("id", GrowingId, primary_key=True, autoincrement=True),
    Column("device_pk", Integer, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("key_id", BigInteger, nullable=False),
    Column("public", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=True),
    UniqueConstraint("device_pk", "kind", "key_id", name="uq_one_time_prekeys_key"),
)

queued_messages = Table(
    "queued_messages",
    metadata,
    Column("id", GrowingId, primary_key=True, autoincrement=True),
    Column(
        "recipient_device_pk",
        Integer,
        ForeignKey("devices.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("sender_device_pk", Integer, nullable=False),
    Column("sender", String(80), nullable=False),
    Column("sender_device", DeviceId, nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("body", LargeBinary, nullable=False),
    # Arrival time in ms: shown to the recipient, and what retention expires by.
    Column("server_ts", BigInteger, nullable=False, index=True),
    UniqueConstraint(
        "sender_device_pk", "message_id", "recipient_device_pk", name="uq_queued_idempotency"
    ),
    # Queue ids must only grow: a device's stream resumes "after id N", and SQLite
    # would otherwise reuse the id of an acknowledged (deleted) newest row.
    sqlite_autoincrement=True,
)

# -- issue 3: linked devices and key transparency (migration 0003) ---------------
# Everything here is public by design: the transparency log publishes it.

# The key-transparency log's entries, in order (server.transparency.log); the
# tree's node hashes are derived from them when the server starts.
transparency_leaves = Table(
    "transparency_leaves",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", LargeBinary, nullable=False),
)

# Every signed tree head, one per epoch: the evidence the operator answers for.
transparency_heads = Table(
    "transparency_heads",
    metadata,
    Column("epoch", BigInteger, primary_key=True, autoincrement=False),
    Column("head", LargeBinary, nullable=False),
)

# The log's Ed25519 signing key, when the deployment does not supply one in a
# file (Settings.transparency.key_file). One row.
transparency_signing_key = Table(
    "transparency_signing_key",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("private_key", LargeBinary, nullable=False),
)

# Per account: the salt of its log commitment and where its account key is logged.
transparency_accounts = Table(
    "transparency_accounts",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("salt", LargeBinary, nullable=False),
    Column("key_leaf", BigInteger, nullable=False),
)

# Every device list an account has published, with where it is logged, so that
# owners and auditors can check each logged digest against the signed list.
device_list_history = Table(
    "device_list_history",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("device_list", LargeBinary, nullable=False),
    Column("leaf", BigInteger, nullable=False),
)

# -- groups: the MLS Delivery Service (docs/groups.md) -------------------------------
# DESIGN.md: "public prekeys" (KeyPackages are a device's public keys for joining
# groups) and "group membership as MLS exposes it" (a group's id, its epoch and
# which devices are members). Group messages themselves are queued_messages rows.

# A device's KeyPackages (RFC 9420 §10) as uploaded: MLSMessage bytes the server
# does not open beyond the cipher suite. A one-time row is deleted as it is
# handed out; the device's one last-resort row (last_resort true) is reused.
mls_key_packages = Table(
    "mls_key_packages",
    metadata,
    Column("id", GrowingId, primary_key=True, autoincrement=True),
    Column(
        "device_pk",
        Integer,
        ForeignKey("devices.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("cipher_suite", Integer, nullable=False),
    Column("last_resort", Boolean, nullable=False),
    Column("key_package", LargeBinary, nullable=False),
)

# One row per group: the epoch the server orders commits by, and which device's
# commit (by its idempotency key) opened it, so a retried commit is recognised.
mls_groups = Table(
    "mls_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", LargeBinary, nullable=False, unique=True),
    Column("epoch", BigInteger, nullable=False),
    Column("last_commit_device_pk", Integer, nullable=True),
    Column("last_commit_message_id", String(64), nullable=True),
)

# Which devices are in which group: the fan-out set of its messages.
mls_group_members = Table(
    "mls_group_members",
    metadata,
    Column("group_pk", Integer, ForeignKey("mls_groups.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "device_pk",
        Integer,
        ForeignKey("devices.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

# -- safety controls (docs/safety.md; migration 0005) ------------------------------
# Metadata only, each row on DESIGN.md's list: blocks a person chose to report,
# connections a minor accepted, each account's standing, and the audit trail of
# every moderation action with its reason and the signals behind it.

# "Block and report": the blocker chose to tell the server. Plain blocks stay on
# the blocker's devices and never reach this table.
reported_blocks = Table(
    "reported_blocks",
    metadata,
    Column(
        "blocker_account_id",
        Integer,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "blocked_account_id",
        Integer,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    Column("day", Integer, nullable=False),
)

# Accounts a minor (on an app that marks minors) accepted a connection with: the
# only accounts of adults allowed to find, message or add that minor.
minor_connections = Table(
    "minor_connections",
    metadata,
    Column(
        "minor_account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    ),
    Column(
        "peer_account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("day", Integer, nullable=False),
)

# Every warn, restrict, suspend and restore, automatic or by an operator.
moderation_actions = Table(
    "moderation_actions",
    metadata,
    Column("id", GrowingId, primary_key=True, autoincrement=True),
    Column(
        "account_id",
        Integer,
        ForeignKey("accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("action", String(16), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reason", String(500), nullable=False),
    # JSON: the counts and thresholds (or report ids) that led to the action.
    Column("signals", String(2000), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    sqlite_autoincrement=True,
)

# The standing an account is in now; no row means good standing.
account_standing = Table(
    "account_standing",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("standing", String(16), nullable=False),
    Column("action_id", BigInteger, nullable=False),
)

# -- issue 5: lawful requests (migration 0007; server.legal, docs/legal.md) ------
# The operator's own records of legal process. None of these hold anything about
# a user beyond the app and handle a request named; the audit chain is the
# operator's accountability record, the source of the public transparency report.

# Authorities the operator answers: their Ed25519 keys and the agreements
# (comma-separated ids from the policy file) they act under.
legal_authorities = Table(
    "legal_authorities",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("country", String(2), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("agreements", String(500), nullable=False, default=""),
    Column("added_day", Integer, nullable=False),
    Column("revoked_day", Integer, nullable=True),
)

# Request ids of every verified request, so that none is answered twice.
legal_requests = Table(
    "legal_requests",
    metadata,
    Column("request_id", String(64), primary_key=True),
    Column("authority_id", String(64), nullable=False),
    Column("process_type", String(32), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
)

# Accounts whose records must not be deleted until until_day (inclusive), with a
# snapshot of the preserved records (whitelisted fields only, canonical JSON) taken
# on taken_day, so that records a user or retention deletes meanwhile survive.
legal_preservations = Table(
    "legal_preservations",
    metadata,
    Column("id", GrowingId, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    Column("app", String(32), nullable=False),
    Column("handle", String(32), nullable=False),
    Column("until_day", Integer, nullable=False),
    Column("taken_day", Integer, nullable=False),
    Column("snapshot", LargeBinary, nullable=False),
    Index("ix_legal_preservations_account", "app", "handle"),
)

# Notices owed to accounts named by a request: due when its non-disclosure period ends.
legal_notices = Table(
    "legal_notices",
    metadata,
    Column("id", GrowingId, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    Column("app", String(32), nullable=False),
    Column("handle", String(32), nullable=False),
    Column("due_day", Integer, nullable=False),
    Column("delivered_day", Integer, nullable=True),
    UniqueConstraint("request_id", "app", "handle", name="uq_legal_notices_account"),
)

# The hash-chained audit log: hash = SHA-256(prev_hash || entry), entry canonical JSON.
legal_audit = Table(
    "legal_audit",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at_ms", BigInteger, nullable=False),
    Column("entry", LargeBinary, nullable=False),
    Column("prev_hash", LargeBinary, nullable=False),
    Column("hash", LargeBinary, nullable=False),
)

# -- sealed sender and franking (migration 0004; docs/safety.md, docs/api.md) --------
# Each queued copy keeps the sender's franking commitment and the server's tag over
# it, handed to the recipient with the message and deleted with it on acknowledgement.
# A sealed copy's sender columns are empty ('' and 0): the server does not know it.
queued_messages.append_column(Column("commitment", LargeBinary, nullable=True))
queued_messages.append_column(Column("franking_tag", LargeBinary, nullable=True))

# The server's own keys for sealed sender and franking, one row per purpose: the
# Ed25519 key that signs sender certificates and the HMAC key of franking tags.
# Held in the database so that every node of a deployment uses the same keys.
delivery_keys = Table(
    "delivery_keys",
    metadata,
    Column("purpose", String(32), primary_key=True),
    Column("key_id", Integer, nullable=False),
    Column("secret", LargeBinary, nullable=False),
)

# Per account: SHA-256 of its unidentified-access key (derived from its profile key,
# which only its contacts hold), checked before a sealed message is queued.
unidentified_access = Table(
    "unidentified_access",
    metadata,
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("key_digest", LargeBinary, nullable=False),
)

# Verified abuse reports (DESIGN.md: "abuse reports submitted by users"). Only a
# report whose franking verified is stored; `verification` says how its sender is
# known: 'request-signature' (unsealed: the sender signed the send) or
# 'sender-certificate' (sealed: the revealed certificate the server issued).
abuse_reports = Table(
    "abuse_reports",
    metadata,
    Column("id", GrowingId, primary_key=True, autoincrement=True),
    Column("reporter_account_id", Integer, nullable=False, index=True),
    Column("reporter", String(80), nullable=False),
    Column("reported_account_id", Integer, nullable=True, index=True),
    Column("reported", String(80), nullable=True),
    Column("reason", String(500), nullable=False),
    Column("verification", String(32), nullable=False),
    Column("day", Integer, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

# The revealed messages of each report, as delivered; (reporter, commitment) is
# unique so that a message is reported once (a replayed report is refused).
abuse_report_messages = Table(
    "abuse_report_messages",
    metadata,
    Column("id", GrowingId, primary_key=True, autoincrement=True),
    Column(
        "report_id",
        GrowingId,
        ForeignKey("abuse_reports.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("position", Integer, nullable=False),
    Column("reporter_account_id", Integer, nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("sender", String(80), nullable=True),
    Column("sender_device", Integer, nullable=True),
    Column("recipient_device", Integer, nullable=False),
    Column("server_ts", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("sender_certificate", LargeBinary, nullable=True),
    Column("commitment", LargeBinary, nullable=False),
    UniqueConstraint("reporter_account_id", "commitment", name="uq_abuse_report_messages_once"),
)


# -- many nodes (issue 7, migration 0009) --------------------------------------------

# One row per accepted send, so that a retry arriving after every copy was
# acknowledged is still recognised and not stored again. ``digest`` is SHA-256 over
# (sender device, message id): the message id is the client's 128 random bits and
# leaves the server with the acknowledgement, so the digest names no sender, no
# recipient and no message. Rows leave at ``expires_hour`` (hours since the epoch,
# server.limits.SEND_RECEIPT_HOURS after the send), swept with the retention.
send_receipts = Table(
    "send_receipts",
    metadata,
    Column("digest", LargeBinary, primary_key=True),
    Column("expires_hour", Integer, nullable=False, index=True),
)


# -- attachments (issue 8, migration 0008) ----------------------------------------------

# Attachment ciphertext, encrypted on the sender's device under a key the server
# never sees (client.attachments). ``blob_id`` is 128 random bits from the server:
# the capability a message passes on. The server knows the uploading device, the
# declared and received sizes and the creation day; the bytes are a file in the
# blob directory (storage.blobs, migration 0011), appended at ``received``.
blobs = Table(
    "blobs",
    metadata,
    Column("id", GrowingId, primary_key=True, autoincrement=True),
    Column("blob_id", String(32), nullable=False, unique=True),
    Column("uploader_device_pk", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("created_day", Integer, nullable=False, index=True),
)


# -- group franking (issue 6, migration 0010) ----------------------------------------

# The MLS group a reported group message was delivered in; NULL for one-to-one
# messages. The server already holds group ids (group membership as MLS exposes it).
abuse_report_messages.append_column(Column("group_id", LargeBinary, nullable=True))
