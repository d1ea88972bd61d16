"""Attachment bytes move from ``blob_segments`` rows to files (storage.blobs).

Blobs stored as segments cannot follow (the migration does not know the blob
directory), so their rows go with the table: such an attachment reads as expired,
as it would after limits.BLOB_RETENTION_DAYS anyway.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# 64-bit ids off SQLite; on SQLite INTEGER, the alias of its 64-bit rowid.
GROWING_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.execute("DELETE FROM blobs WHERE id IN (SELECT blob_pk FROM blob_segments)")
    op.drop_table("blob_segments")


def downgrade() -> None:
    # Blob files stay where they are; blobs uploaded since then read as expired.
    op.execute("DELETE FROM blobs")
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
