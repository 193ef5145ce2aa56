"""complaints: dead letters keep who replayed or discarded them, when one was discarded and why (ops audit)

Revision ID: complaints_0006_dlaudit
Revises: complaints_0005
"""

from shared.migrations import add_dead_letter_audit, drop_dead_letter_audit

revision = "complaints_0006_dlaudit"
down_revision = "complaints_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_dead_letter_audit()


def downgrade() -> None:
    drop_dead_letter_audit()
