"""Linked devices and key transparency: the log's entries, heads and key, account
salts, and the history of every account's signed device lists.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transparency_leaves",
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "transparency_heads",
        sa.Column("epoch", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("head", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "transparency_signing_key",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("private_key", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "transparency_accounts",
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("salt", sa.LargeBinary(), nullable=False),
        sa.Column("key_leaf", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "device_list_history",
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("device_list", sa.LargeBinary(), nullable=False),
        sa.Column("leaf", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "device_list_history",
        "transparency_accounts",
        "transparency_signing_key",
        "transparency_heads",
        "transparency_leaves",
    ):
        op.drop_table(table)
