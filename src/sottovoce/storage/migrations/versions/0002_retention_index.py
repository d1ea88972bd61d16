"""Index queued messages by arrival time, for the retention sweep.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_queued_messages_server_ts", "queued_messages", ["server_ts"])


def downgrade() -> None:
    op.drop_index("ix_queued_messages_server_ts", table_name="queued_messages")
