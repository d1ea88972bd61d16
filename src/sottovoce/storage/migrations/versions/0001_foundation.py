"""Accounts, devices, prekeys and the message queue.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# 64-bit ids off SQLite; on SQLite INTEGER, the alias of its 64-bit rowid.
GROWING_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("app", sa.String(32), nullable=False),
        sa.Column("handle", sa.String(32), nullable=False),
        sa.Column("account_key", sa.LargeBinary, nullable=False),
        sa.Column("device_list", sa.LargeBinary, nullable=False),
        sa.Column("device_list_version", sa.BigInteger, nullable=False),
        sa.Column("created_day", sa.Integer, nullable=False),
        sa.Column("is_minor", sa.Boolean, nullable=False),
        sa.UniqueConstraint("app", "handle", name="uq_accounts_app_handle"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "account_id",
            sa.Integer,
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("device_id", sa.Integer, nullable=False),
        sa.Column("identity", sa.LargeBinary, nullable=False),
        sa.Column("created_day", sa.Integer, nullable=False),
        sa.Column("last_seen_day", sa.Integer, nullable=False),
        sa.UniqueConstraint("account_id", "device_id", name="uq_devices_account_device"),
    )
    op.create_table(
        "signed_prekeys",
        sa.Column(
            "device_pk",
            sa.Integer,
            sa.ForeignKey("devices.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("key_id", sa.BigInteger, nullable=False),
        sa.Column("public", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "one_time_prekeys",
        sa.Column("id", GROWING_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "device_pk",
            sa.Integer,
            sa.ForeignKey("devices.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key_id", sa.BigInteger, nullable=False),
        sa.Column("public", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=True),
        sa.UniqueConstraint("device_pk", "kind", "key_id", name="uq_one_time_prekeys_key"),
    )
    op.create_table(
        "queued_messages",
        sa.Column("id", GROWING_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "recipient_device_pk",
            sa.Integer,
            sa.ForeignKey("devices.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("sender_device_pk", sa.Integer, nullable=False),
        sa.Column("sender", sa.String(80), nullable=False),
        sa.Column("sender_device", sa.Integer, nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("server_ts", sa.BigInteger, nullable=False),
        sa.UniqueConstraint(
            "sender_device_pk",
            "message_id",
            "recipient_device_pk",
            name="uq_queued_idempotency",
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_queued_messages_recipient_device_pk", "queued_messages", ["recipient_device_pk"]
    )


def downgrade() -> None:
    op.drop_table("queued_messages")
    op.drop_table("one_time_prekeys")
    op.drop_table("signed_prekeys")
    op.drop_table("devices")
    op.drop_table("accounts")
