"""admin reports and broadcasts

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 21:27:57.079483
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_tokens",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("province", sa.String(length=40), nullable=True),
        sa.Column("school_key", sa.String(length=120), nullable=True),
        sa.Column("school", sa.String(length=120), nullable=True),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_tokens_token_hash")),
    )
    op.create_table(
        "report_answers",
        sa.Column("province", sa.String(length=40), nullable=False),
        sa.Column("lesson_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("option", sa.String(length=20), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "province", "lesson_id", "step_id", "option", name=op.f("pk_report_answers")
        ),
    )
    op.create_table(
        "report_gain",
        sa.Column("province", sa.String(length=40), nullable=False),
        sa.Column("module_id", sa.String(length=64), nullable=False),
        sa.Column("learners", sa.Integer(), nullable=False),
        sa.Column("pre_correct", sa.Integer(), nullable=False),
        sa.Column("pre_total", sa.Integer(), nullable=False),
        sa.Column("post_correct", sa.Integer(), nullable=False),
        sa.Column("post_total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("province", "module_id", name=op.f("pk_report_gain")),
    )
    op.create_table(
        "report_lessons",
        sa.Column("province", sa.String(length=40), nullable=False),
        sa.Column("lesson_id", sa.String(length=64), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("median_seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("province", "lesson_id", name=op.f("pk_report_lessons")),
    )
    op.create_table(
        "report_meta",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_report_meta")),
    )
    op.create_table(
        "report_progress",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("province", sa.String(length=40), nullable=False),
        sa.Column("school_key", sa.String(length=120), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("registered", sa.Integer(), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("completed_lesson", sa.Integer(), nullable=False),
        sa.Column("completed_module", sa.Integer(), nullable=False),
        sa.Column("equipped", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month", "province", "school_key", "channel", name=op.f("pk_report_progress")
        ),
    )
    with op.batch_alter_table("report_progress", schema=None) as batch_op:
        batch_op.create_index(
            "ix_report_progress_province_month", ["province", "month"], unique=False
        )

    op.create_table(
        "report_steps",
        sa.Column("province", sa.String(length=40), nullable=False),
        sa.Column("lesson_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("reached", sa.Integer(), nullable=False),
        sa.Column("stuck", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("province", "lesson_id", "step", name=op.f("pk_report_steps")),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["admin_tokens.id"],
            name=op.f("fk_audit_log_token_id_admin_tokens"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_token_id"), ["token_id"], unique=False)

    op.create_table(
        "broadcasts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("token_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("author", sa.String(length=80), nullable=False),
        sa.Column("text_vi", sa.String(length=2000), nullable=False),
        sa.Column("text_en", sa.String(length=2000), nullable=False),
        sa.Column(
            "segment",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["admin_tokens.id"],
            name=op.f("fk_broadcasts_token_id_admin_tokens"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("province", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("school_key", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_lesson_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_module_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("equipped_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_learners_province_school_key_id", ["province", "school_key", "id"], unique=False
        )

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "broadcast_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(batch_op.f("ix_outbox_broadcast_id"), ["broadcast_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_broadcast_id_broadcasts"),
            "broadcasts",
            ["broadcast_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_broadcast_id_broadcasts"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_outbox_broadcast_id"))
        batch_op.drop_column("broadcast_id")

    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_index("ix_learners_province_school_key_id")
        batch_op.drop_column("equipped_at")
        batch_op.drop_column("first_module_at")
        batch_op.drop_column("first_lesson_at")
        batch_op.drop_column("started_at")
        batch_op.drop_column("school_key")
        batch_op.drop_column("province")

    op.drop_table("broadcasts")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_token_id"))

    op.drop_table("audit_log")
    op.drop_table("report_steps")
    with op.batch_alter_table("report_progress", schema=None) as batch_op:
        batch_op.drop_index("ix_report_progress_province_month")

    op.drop_table("report_progress")
    op.drop_table("report_meta")
    op.drop_table("report_lessons")
    op.drop_table("report_gain")
    op.drop_table("report_answers")
    op.drop_table("admin_tokens")
