"""volunteer report rollup

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 21:32:25.995534
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_volunteers",
        sa.Column(
            "volunteer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("province", sa.String(length=40), nullable=False),
        sa.Column("school_key", sa.String(length=120), nullable=False),
        sa.Column("school", sa.String(length=120), nullable=False),
        sa.Column("class_name", sa.String(length=20), nullable=False),
        sa.Column("referred", sa.Integer(), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("activated", sa.Integer(), nullable=False),
        sa.Column("completed_module", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("volunteer_id", name=op.f("pk_report_volunteers")),
    )
    with op.batch_alter_table("report_volunteers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_volunteers_province_school_key", ["province", "school_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("report_volunteers", schema=None) as batch_op:
        batch_op.drop_index("ix_report_volunteers_province_school_key")

    op.drop_table("report_volunteers")
