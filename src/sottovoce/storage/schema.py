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
    Column("device_id", Integer, nullable=False),
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
    Column("sender_device", Integer, nullable=False),
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
