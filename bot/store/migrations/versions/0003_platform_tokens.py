"""platform tokens: Zalo OA's single-use refresh token and proactive counters

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platform_tokens",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("access_token", sa.String(length=1000), nullable=True),
        sa.Column("refresh_token", sa.String(length=1000), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counter", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_platform_tokens")),
    )


def downgrade() -> None:
    op.drop_table("platform_tokens")
