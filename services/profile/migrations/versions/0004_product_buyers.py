"""product.buyers: how many customers completed a booking of each product, refreshed by a periodic job, so a
recommendation reads the most popular products by index instead of counting every booking on every request

Revision ID: profile_0004
Revises: profile_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "profile_0004"
down_revision = "profile_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("product") as batch:
        batch.add_column(sa.Column("buyers", sa.Integer, nullable=False, server_default=sa.text("0")))
    op.create_index("ix_product_buyers", "product", ["buyers"])


def downgrade() -> None:
    op.drop_index("ix_product_buyers", table_name="product")
    with op.batch_alter_table("product") as batch:
        batch.drop_column("buyers")
