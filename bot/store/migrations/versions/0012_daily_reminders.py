"""daily reminders

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 23:08:16.513880
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reminders_sent",
        sa.Column(
            "learner_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["learner_id"],
            ["learners.id"],
            name=op.f("fk_reminders_sent_learner_id_learners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("learner_id", "day", name=op.f("pk_reminders_sent")),
    )
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("remind_at", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("reminders_ignored", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("reminders_paused", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("learned_on", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_column("learned_on")
        batch_op.drop_column("reminders_paused")
        batch_op.drop_column("reminders_ignored")
        batch_op.drop_column("remind_at")

    op.drop_table("reminders_sent")
