"""feedback: who was referred by another customer (word of mouth among promoters)

Revision ID: feedback_0003
Revises: feedback_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "feedback_0003"
down_revision = "feedback_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("survey_customer", sa.Column("referred", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("survey_customer", "referred")
