"""privacy: consent version, erased accounts, anonymous events, certificates that outlive erasure

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-23 00:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_version", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_learners_erased_at",
            ["erased_at"],
            unique=False,
            postgresql_where=sa.text("erased_at IS NOT NULL"),
            sqlite_where=sa.text("erased_at IS NOT NULL"),
        )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("learner_id", existing_type=ID, nullable=True)
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.alter_column("learner_id", existing_type=ID, nullable=True)
        batch_op.drop_constraint("fk_certificates_learner_id_learners", type_="foreignkey")
        batch_op.create_foreign_key(
            "fk_certificates_learner_id_learners",
            "learners",
            ["learner_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    op.execute("DELETE FROM certificates WHERE learner_id IS NULL")
    op.execute("DELETE FROM events WHERE learner_id IS NULL")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_constraint("fk_certificates_learner_id_learners", type_="foreignkey")
        batch_op.create_foreign_key(
            "fk_certificates_learner_id_learners",
            "learners",
            ["learner_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.alter_column("learner_id", existing_type=ID, nullable=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("learner_id", existing_type=ID, nullable=False)
    with op.batch_alter_table("learners", schema=None) as batch_op:
        batch_op.drop_index("ix_learners_erased_at")
        batch_op.drop_column("erased_at")
        batch_op.drop_column("consent_version")
