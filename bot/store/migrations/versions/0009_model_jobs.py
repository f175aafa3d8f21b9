"""model jobs

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 22:11:21.108906
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_jobs",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "learner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("person_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("text", sa.String(length=4000), nullable=False),
        sa.Column(
            "context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=10), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_model_jobs_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_jobs")),
    )
    with op.batch_alter_table("model_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_model_jobs_person_id_created_at", ["person_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_model_jobs_status_id", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_model_jobs_status_id")
        batch_op.drop_index("ix_model_jobs_person_id_created_at")

    op.drop_table("model_jobs")
