"""link accounts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 20:21:53.222240
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_codes",
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column(
            "learner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_link_codes_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_link_codes")),
    )
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(batch_op.f("ix_learners_person_id"), ["person_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_learners_person_id_learners"),
            "learners",
            ["person_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_learners_person_id_learners"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_learners_person_id"))
        batch_op.drop_column("person_id")

    op.drop_table("link_codes")
