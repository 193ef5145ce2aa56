"""complaints: when a complaint was last reopened (its resolution clock starts again there)

Revision ID: complaints_0005
Revises: complaints_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "complaints_0005"
down_revision = "complaints_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("complaint", sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("complaint", "reopened_at")
