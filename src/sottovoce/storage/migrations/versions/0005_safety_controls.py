"""Safety controls: reported blocks, minors' connections, standing, moderation audit.

Revision ID: 0005
Revises: 0004
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

GROWING_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _account(name: str, **kwargs: Any) -> sa.Column[int]:
    """A column naming an account; the row goes with the account."""
    return sa.Column(name, sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), **kwargs)


def upgrade() -> None:
    op.create_table(
        "reported_blocks",
        _account("blocker_account_id", primary_key=True),
        _account("blocked_account_id", primary_key=True),
        sa.Column("day", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_reported_blocks_blocked_account_id", "reported_blocks", ["blocked_account_id"]
    )
    op.create_table(
        "minor_connections",
        _account("minor_account_id", primary_key=True),
        _account("peer_account_id", primary_key=True),
        sa.Column("day", sa.Integer, nullable=False),
    )
    op.create_table(
        "moderation_actions",
        sa.Column("id", GROWING_ID, primary_key=True, autoincrement=True),
        _account("account_id", nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("signals", sa.String(2000), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_moderation_actions_account_id", "moderation_actions", ["account_id"])
    op.create_table(
        "account_standing",
        _account("account_id", primary_key=True),
        sa.Column("standing", sa.String(16), nullable=False),
        sa.Column("action_id", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("account_standing")
    op.drop_index("ix_moderation_actions_account_id", table_name="moderation_actions")
    op.drop_table("moderation_actions")
    op.drop_table("minor_connections")
    op.drop_index("ix_reported_blocks_blocked_account_id", table_name="reported_blocks")
    op.drop_table("reported_blocks")
