"""complaints: complaints, timeline, clock pauses, solutions, booking and consent facts, crises and notices

Revision ID: complaints_0002
Revises: complaints_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "complaints_0002"
down_revision = "complaints_0001"
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('complaint',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=30), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('source_ref', sa.String(length=200), nullable=True),
    sa.Column('booking_id', sa.String(length=100), nullable=True),
    sa.Column('product_id', sa.String(length=100), nullable=True),
    sa.Column('destination', sa.String(length=200), nullable=True),
    sa.Column('supplier', sa.String(length=200), nullable=True),
    sa.Column('trip_phase', sa.String(length=10), nullable=False),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('occurred_at', TS, nullable=True),
    sa.Column('attachments', sa.Text(), nullable=False),
    sa.Column('context', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('suggested_category', sa.String(length=40), nullable=False),
    sa.Column('suggested_severity', sa.String(length=10), nullable=False),
    sa.Column('queue', sa.String(length=40), nullable=False),
    sa.Column('assignee', sa.String(length=100), nullable=True),
    sa.Column('state', sa.String(length=30), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('filed_at', TS, nullable=False),
    sa.Column('first_response_at', TS, nullable=True),
    sa.Column('resolved_at', TS, nullable=True),
    sa.Column('closed_at', TS, nullable=True),
    sa.Column('root_cause', sa.String(length=40), nullable=True),
    sa.Column('preventive_action', sa.Text(), nullable=True),
    sa.Column('compensation_points', sa.Integer(), nullable=False),
    sa.Column('sla_met', sa.Boolean(), nullable=True),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('satisfied', sa.Boolean(), nullable=True),
    sa.Column('first_response_due', TS, nullable=True),
    sa.Column('resolution_due', TS, nullable=True),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('alarms', sa.Text(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('crisis_id', sa.String(length=36), nullable=True),
    sa.Column('updated_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('source_ref')
    )
    op.create_index(op.f('ix_complaint_booking_id'), 'complaint', ['booking_id'], unique=False)
    op.create_index(op.f('ix_complaint_crisis_id'), 'complaint', ['crisis_id'], unique=False)
    op.create_index(op.f('ix_complaint_customer_id'), 'complaint', ['customer_id'], unique=False)
    op.create_index(op.f('ix_complaint_product_id'), 'complaint', ['product_id'], unique=False)
    op.create_index('ix_complaint_state_filed', 'complaint', ['state', 'filed_at'], unique=False)
    op.create_table('complaint_booking',
    sa.Column('booking_id', sa.String(length=100), nullable=False),
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('product_id', sa.String(length=100), nullable=False),
    sa.Column('destination', sa.String(length=200), nullable=True),
    sa.Column('travel_start', sa.Date(), nullable=True),
    sa.Column('travel_end', sa.Date(), nullable=True),
    sa.Column('completed_at', TS, nullable=False),
    sa.Column('cancelled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('booking_id')
    )
    op.create_index(op.f('ix_complaint_booking_customer_id'), 'complaint_booking', ['customer_id'], unique=False)
    op.create_index(op.f('ix_complaint_booking_product_id'), 'complaint_booking', ['product_id'], unique=False)
    op.create_table('complaint_consent',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('changed_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('customer_id', 'channel', name='uq_complaint_consent')
    )
    op.create_index(op.f('ix_complaint_consent_customer_id'), 'complaint_consent', ['customer_id'], unique=False)
    op.create_table('complaint_crisis',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('scope_kind', sa.String(length=20), nullable=False),
    sa.Column('scope_value', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('opened_by', sa.String(length=100), nullable=False),
    sa.Column('affected_from', sa.Date(), nullable=True),
    sa.Column('affected_to', sa.Date(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('checklist', sa.Text(), nullable=False),
    sa.Column('decision', sa.Text(), nullable=True),
    sa.Column('declared_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('complaint_crisis_notice',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('crisis_id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('sent_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('crisis_id', 'customer_id', name='uq_complaint_crisis_notice')
    )
    op.create_index(op.f('ix_complaint_crisis_notice_customer_id'), 'complaint_crisis_notice', ['customer_id'], unique=False)
    op.create_table('complaint_pause',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('complaint_id', sa.String(length=36), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('started_at', TS, nullable=False),
    sa.Column('ended_at', TS, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_complaint_pause_complaint_id'), 'complaint_pause', ['complaint_id'], unique=False)
    op.create_table('complaint_solution',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('complaint_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('proposed_by', sa.String(length=100), nullable=False),
    sa.Column('approved_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_complaint_solution_complaint_id'), 'complaint_solution', ['complaint_id'], unique=False)
    op.create_table('complaint_timeline',
    sa.Column('id', BIGID, autoincrement=True, nullable=False),
    sa.Column('complaint_id', sa.String(length=36), nullable=False),
    sa.Column('customer_id', sa.String(length=100), nullable=False),
    sa.Column('at', TS, nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('channel', sa.String(length=30), nullable=True),
    sa.Column('from_state', sa.String(length=30), nullable=True),
    sa.Column('to_state', sa.String(length=30), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_complaint_timeline_complaint_id'), 'complaint_timeline', ['complaint_id'], unique=False)
    op.create_index(op.f('ix_complaint_timeline_customer_id'), 'complaint_timeline', ['customer_id'], unique=False)


def downgrade() -> None:
    for table in ("complaint_crisis_notice", "complaint_crisis", "complaint_consent", "complaint_booking",
                  "complaint_solution", "complaint_pause", "complaint_timeline", "complaint"):
        op.drop_table(table)
