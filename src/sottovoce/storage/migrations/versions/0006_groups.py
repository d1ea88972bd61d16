"""Groups: KeyPackages, groups (id and epoch) and their member devices.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# 64-bit ids off SQLite; on SQLite INTEGER, the alias of its 64-bit rowid.
GROWING_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "mls_key_packages",
        sa.Column("id", GROWING_ID, primary_key=True, autoincrement=True),
        sa.Column(
            "device_pk",
            sa.Integer,
            sa.ForeignKey("devices.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("cipher_suite", sa.Integer, nullable=False),
        sa.Column("last_resort", sa.Boolean, nullable=False),
        sa.Column("key_package", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_mls_key_packages_device_pk", "mls_key_packages", ["device_pk"])
    op.create_table(
        "mls_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_id", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("last_commit_device_pk", sa.Integer, nullable=True),
        sa.Column("last_commit_message_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "mls_group_members",
        sa.Column(
            "group_pk",
            sa.Integer,
            sa.ForeignKey("mls_groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "device_pk",
            sa.Integer,
            sa.ForeignKey("devices.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_mls_group_members_device_pk", "mls_group_members", ["device_pk"])


def downgrade() -> None:
    op.drop_index("ix_mls_group_members_device_pk", table_name="mls_group_members")
    op.drop_table("mls_group_members")
    op.drop_table("mls_groups")
    op.drop_index("ix_mls_key_packages_device_pk", table_name="mls_key_packages")
    op.drop_table("mls_key_packages")
