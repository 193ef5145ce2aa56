"""feedback: no index on invitation.booking_id (nothing reads invitations by it: a booking's invitation is found by its
business key, post-trip:<booking id>); every invitation written kept it up to date for nothing, one index of seven

Revision ID: feedback_0005_nobookingix
Revises: feedback_0004_dlaudit
"""

from alembic import op

revision = "feedback_0005_nobookingix"
down_revision = "feedback_0004_dlaudit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_invitation_booking_id", table_name="invitation")


def downgrade() -> None:
    op.create_index("ix_invitation_booking_id", "invitation", ["booking_id"], unique=False)
