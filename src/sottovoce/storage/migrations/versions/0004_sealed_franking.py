"""Sealed sender and franking: the franking columns of queued messages, the server's
delivery keys, unidentified-access key digests, and verified abuse reports.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GROWING_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("queued_messages", sa.Column("commitment", sa.LargeBinary(), nullable=True))
    op.add_column("queued_messages", sa.Column("franking_tag", sa.LargeBinary(), nullable=True))
    op.create_table(
        "delivery_keys",
        sa.Column("purpose", sa.String(32), primary_key=True),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "unidentified_access",
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("key_digest", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "abuse_reports",
        sa.Column("id", GROWING_ID, primary_key=True, autoincrement=True),
        sa.Column("reporter_account_id", sa.Integer(), nullable=False, index=True),
        sa.Column("reporter", sa.String(80), nullable=False),
        sa.Column("reported_account_id", sa.Integer(), nullable=True, index=True),
        sa.Column("reported", sa.String(80), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("verification", sa.String(32), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "abuse_report_messages",
        sa.Column("id", GROWING_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "report_id",
            GROWING_ID,
            sa.ForeignKey("abuse_reports.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("reporter_account_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("sender", sa.String(80), nullable=True),
        sa.Column("sender_device", sa.Integer(), nullable=True),
        sa.Column("recipient_device", sa.Integer(), nullable=False),
        sa.Column("server_ts", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sender_certificate", sa.LargeBinary(), nullable=True),
        sa.Column("commitment", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint(
            "reporter_account_id", "commitment", name="uq_abuse_report_messages_once"
        ),
    )


def downgrade() -> None:
    op.drop_table("abuse_report_messages")
    op.drop_table("abuse_reports")
    op.drop_table("unidentified_access")
    op.drop_table("delivery_keys")
    with op.batch_alter_table("queued_messages") as batch:
        batch.drop_column("franking_tag")
        batch.drop_column("commitment")
