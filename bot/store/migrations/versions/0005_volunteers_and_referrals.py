"""volunteers and referrals

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 21:12:17.119134
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "volunteers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "learner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("school", sa.String(length=120), nullable=False),
        sa.Column("school_key", sa.String(length=120), nullable=False),
        sa.Column("class_name", sa.String(length=20), nullable=False),
        sa.Column("province", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_volunteers_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_volunteers")),
        sa.UniqueConstraint("code", name=op.f("uq_volunteers_code")),
        sa.UniqueConstraint("learner_id", name=op.f("uq_volunteers_learner_id")),
    )
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_volunteers_province_school_key", ["province", "school_key"], unique=False
        )

    op.create_table(
        "help_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "learner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "volunteer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("lesson_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.String(length=8), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_help_requests_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_help_requests_volunteer_id_volunteers"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_help_requests")),
    )
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        batch_op.create_index("ix_help_requests_learner_id_id", ["learner_id", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_help_requests_volunteer_id"), ["volunteer_id"], unique=False
        )

    op.create_table(
        "referrals",
        sa.Column(
            "learner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "volunteer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("nickname", sa.String(length=40), nullable=True),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_referrals_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["volunteer_id"],
            ["volunteers.id"],
            name=op.f("fk_referrals_volunteer_id_volunteers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("learner_id", name=op.f("pk_referrals")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referrals_volunteer_id"), ["volunteer_id"], unique=False
        )

    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "aside",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )

    with op.batch_alter_table("lesson_progress", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("assisted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("lesson_progress", schema=None) as batch_op:
        batch_op.drop_column("assisted")

    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_column("aside")

    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referrals_volunteer_id"))

    op.drop_table("referrals")
    with op.batch_alter_table("help_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_help_requests_volunteer_id"))
        batch_op.drop_index("ix_help_requests_learner_id_id")

    op.drop_table("help_requests")
    with op.batch_alter_table("volunteers", schema=None) as batch_op:
        batch_op.drop_index("ix_volunteers_province_school_key")

    op.drop_table("volunteers")
