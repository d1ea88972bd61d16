"""Group franking: the MLS group id of a reported group message (docs/safety.md).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("abuse_report_messages", sa.Column("group_id", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("abuse_report_messages") as batch:
        batch.drop_column("group_id")
