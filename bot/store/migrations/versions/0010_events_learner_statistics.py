"""events.learner_id statistics

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 22:50:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Events per learner are heavy-tailed (most people a handful, some hundreds): on 20M events
    # the default sample counted 47,601 distinct learner_id where there are 620,000, so a school's
    # live reports scanned all learners in parallel instead of using their (province, school)
    # index. A 10x bigger sample for this column counts 278,000: close enough for index plans.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE events ALTER COLUMN learner_id SET STATISTICS 1000")
        op.execute("ANALYZE events")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE events ALTER COLUMN learner_id SET STATISTICS -1")
