"""sample: the core schema's dead-letter audit columns (as every service has them)

Revision ID: sample_0002_dlaudit
Revises: sample_0001
"""

from shared.migrations import add_dead_letter_audit, drop_dead_letter_audit

revision = "sample_0002_dlaudit"
down_revision = "sample_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_dead_letter_audit()


def downgrade() -> None:
    drop_dead_letter_audit()
