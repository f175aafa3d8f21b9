"""delivery: priority, retries, unreachable learners, media cache

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 19:42:45.161360
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_cache",
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("path", sa.String(length=200), nullable=False),
        sa.Column("file_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "path", name=op.f("pk_media_cache")),
    )
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_outbox_status_channel_priority",
            ["status", "channel", "priority", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_channel_priority")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("priority")

    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_column("unreachable_at")

    op.drop_table("media_cache")
