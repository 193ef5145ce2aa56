"""loyalty: loyalty_member.held — points reserved by holds, kept under the member's row lock

Revision ID: loyalty_0003
Revises: loyalty_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "loyalty_0003"
down_revision = "loyalty_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("loyalty_member", sa.Column("held", sa.Integer, nullable=False, server_default="0"))
    op.execute(
        "UPDATE loyalty_member SET held = COALESCE((SELECT SUM(r.points) FROM loyalty_redemption r"
        " WHERE r.customer_id = loyalty_member.customer_id AND r.status = 'held'), 0)"
    )


def downgrade() -> None:
    op.drop_column("loyalty_member", "held")
