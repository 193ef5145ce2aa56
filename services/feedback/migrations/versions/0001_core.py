"""core tables: outbox, inbox, dead letters, idempotency keys

Revision ID: feedback_0001
Revises:
"""

from shared.migrations import create_core_tables

revision = "feedback_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_core_tables()


def downgrade() -> None:
    raise NotImplementedError("the first revision is not reversible")
