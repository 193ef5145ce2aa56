"""profile: dead letters keep who replayed or discarded them, when one was discarded and why (ops audit)

Revision ID: profile_0007_dlaudit
Revises: profile_0006
"""

from shared.migrations import add_dead_letter_audit, drop_dead_letter_audit

revision = "profile_0007_dlaudit"
down_revision = "profile_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_dead_letter_audit()


def downgrade() -> None:
    drop_dead_letter_audit()
