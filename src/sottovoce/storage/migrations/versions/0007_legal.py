"""Lawful requests: authorities, verified request ids, preservations, notices, audit chain.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

GrowingId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "legal_authorities",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("agreements", sa.String(500), nullable=False),
        sa.Column("added_day", sa.Integer, nullable=False),
        sa.Column("revoked_day", sa.Integer, nullable=True),
    )
    op.create_table(
        "legal_requests",
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("authority_id", sa.String(64), nullable=False),
        sa.Column("process_type", sa.String(32), nullable=False),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "legal_preservations",
        sa.Column("id", GrowingId, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("app", sa.String(32), nullable=False),
        sa.Column("handle", sa.String(32), nullable=False),
        sa.Column("until_day", sa.Integer, nullable=False),
        sa.Column("taken_day", sa.Integer, nullable=False),
        sa.Column("snapshot", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_legal_preservations_account", "legal_preservations", ["app", "handle"])
    op.create_table(
        "legal_notices",
        sa.Column("id", GrowingId, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("app", sa.String(32), nullable=False),
        sa.Column("handle", sa.String(32), nullable=False),
        sa.Column("due_day", sa.Integer, nullable=False),
        sa.Column("delivered_day", sa.Integer, nullable=True),
        sa.UniqueConstraint("request_id", "app", "handle", name="uq_legal_notices_account"),
    )
    op.create_table(
        "legal_audit",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("entry", sa.LargeBinary, nullable=False),
        sa.Column("prev_hash", sa.LargeBinary, nullable=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("legal_audit")
    op.drop_table("legal_notices")
    op.drop_index("ix_legal_preservations_account", table_name="legal_preservations")
    op.drop_table("legal_preservations")
    op.drop_table("legal_requests")
    op.drop_table("legal_authorities")
