"""Attachments: encrypted blobs and their segments.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# 64-bit ids off SQLite; on SQLite INTEGER, the alias of its 64-bit rowid.
GROWING_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("id", GROWING_ID, primary_key=True, autoincrement=True),
        sa.Column("blob_id", sa.String(32), nullable=False, unique=True),
        sa.Column("uploader_device_pk", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("created_day", sa.Integer, nullable=False),
    )
    op.create_index("ix_blobs_created_day", "blobs", ["created_day"])
    op.create_table(
        "blob_segments",
        sa.Column(
            "blob_pk",
            GROWING_ID,
            sa.ForeignKey("blobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("start", sa.BigInteger, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("blob_segments")
    op.drop_index("ix_blobs_created_day", table_name="blobs")
    op.drop_table("blobs")
