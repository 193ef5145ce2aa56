"""loyalty: dead letters keep who replayed or discarded them, when one was discarded and why (ops audit)

Revision ID: loyalty_0006_dlaudit
Revises: loyalty_0005_checkout
"""

from shared.migrations import add_dead_letter_audit, drop_dead_letter_audit

revision = "loyalty_0006_dlaudit"
down_revision = "loyalty_0005_checkout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_dead_letter_audit()


def downgrade() -> None:
    drop_dead_letter_audit()
