"""Many nodes: send receipts (idempotency after acknowledgement), and 64-bit device
ids on PostgreSQL.

Device ids are u32 in the signed device list (protocol.public.device_list), which
PostgreSQL's INTEGER (signed 32 bits) cannot hold; SQLite's INTEGER already holds
64 bits, so the columns change on PostgreSQL only.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WIDENED = (("devices", "device_id"), ("queued_messages", "sender_device"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in WIDENED:
            op.alter_column(table, column, type_=sa.BigInteger(), existing_nullable=False)
    op.create_table(
        "send_receipts",
        sa.Column("digest", sa.LargeBinary(), primary_key=True),
        sa.Column("expires_hour", sa.Integer(), nullable=False),
    )
    op.create_index("ix_send_receipts_expires_hour", "send_receipts", ["expires_hour"])


def downgrade() -> None:
    op.drop_index("ix_send_receipts_expires_hour", table_name="send_receipts")
    op.drop_table("send_receipts")
    if op.get_bind().dialect.name == "postgresql":
        for table, column in WIDENED:
            op.alter_column(table, column, type_=sa.Integer(), existing_nullable=False)
