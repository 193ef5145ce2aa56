"""loyalty: dead letters keep who replayed or discarded them, when one was discarded and why (ops audit)

Revision ID: loyalty_0004_dlaudit
Revises: loyalty_0003
"""

from shared.migrations import add_dead_letter_audit, drop_dead_letter_audit

revision = "loyalty_0004_dlaudit"
down_revision = "loyalty_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_dead_letter_audit()


def downgrade() -> None:
    drop_dead_letter_audit()
