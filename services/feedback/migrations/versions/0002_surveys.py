"""feedback: templates, configuration, survey customers, open complaints, invitations, responses, reviews

Revision ID: feedback_0002
Revises: feedback_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "feedback_0002"
down_revision = "feedback_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('feedback_setting',
        sa.Column('id', sa.Integer, nullable=False),
        sa.Column('values', sa.JSON, nullable=False),
        sa.Column('updated_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id')
    )
    op.create_table('invitation',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('token', sa.String(64), nullable=False),
        sa.Column('business_key', sa.String(250), nullable=False),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('template_id', sa.String(100), nullable=False),
        sa.Column('template_version', sa.Integer, nullable=False),
        sa.Column('customer_id', sa.String(100), nullable=False),
        sa.Column('booking_id', sa.String(100), nullable=True),
        sa.Column('complaint_id', sa.String(100), nullable=True),
        sa.Column('product_id', sa.String(100), nullable=True),
        sa.Column('product_name', sa.String(300), nullable=True),
        sa.Column('product_kind', sa.String(50), nullable=True),
        sa.Column('destination', sa.String(200), nullable=True),
        sa.Column('guide', sa.String(100), nullable=True),
        sa.Column('supplier', sa.String(100), nullable=True),
        sa.Column('channel', sa.String(20), nullable=True),
        sa.Column('tier', sa.String(20), nullable=True),
        sa.Column('elements', sa.JSON, nullable=False),
        sa.Column('language', sa.String(20), nullable=False),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('reason', sa.String(100), nullable=True),
        sa.Column('send_at', TS, nullable=False),
        sa.Column('sent_at', TS, nullable=True),
        sa.Column('reminded_at', TS, nullable=True),
        sa.Column('expires_at', TS, nullable=True),
        sa.Column('answered_at', TS, nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('business_key', name='uq_invitation_business_key'),
        sa.UniqueConstraint('token')
    )
    op.create_index(op.f('ix_invitation_booking_id'), 'invitation', ['booking_id'], unique=False)
    op.create_index(op.f('ix_invitation_customer_id'), 'invitation', ['customer_id'], unique=False)
    op.create_index(op.f('ix_invitation_send_at'), 'invitation', ['send_at'], unique=False)
    op.create_index(op.f('ix_invitation_status'), 'invitation', ['status'], unique=False)
    op.create_table('open_complaint',
        sa.Column('complaint_id', sa.String(100), nullable=False),
        sa.Column('customer_id', sa.String(100), nullable=False),
        sa.Column('booking_id', sa.String(100), nullable=True),
        sa.Column('opened_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('complaint_id')
    )
    op.create_index(op.f('ix_open_complaint_customer_id'), 'open_complaint', ['customer_id'], unique=False)
    op.create_table('review',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('customer_id', sa.String(100), nullable=False),
        sa.Column('product_id', sa.String(100), nullable=False),
        sa.Column('booking_id', sa.String(100), nullable=True),
        sa.Column('rating', sa.Integer, nullable=False),
        sa.Column('title', sa.String(200), nullable=True),
        sa.Column('text', sa.Text, nullable=True),
        sa.Column('language', sa.String(20), nullable=True),
        sa.Column('sentiment', sa.String(10), nullable=True),
        sa.Column('sentiment_score', sa.Float, nullable=True),
        sa.Column('topics', sa.JSON, nullable=False),
        sa.Column('status', sa.String(20), nullable=False),
        sa.Column('moderation_note', sa.String(500), nullable=True),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('moderated_at', TS, nullable=True),
        sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_review_customer_id'), 'review', ['customer_id'], unique=False)
    op.create_index(op.f('ix_review_product_id'), 'review', ['product_id'], unique=False)
    op.create_index(op.f('ix_review_status'), 'review', ['status'], unique=False)
    op.create_table('survey_customer',
        sa.Column('customer_id', sa.String(100), nullable=False),
        sa.Column('survey_consent', sa.Boolean, nullable=True),
        sa.Column('consent_channel', sa.String(20), nullable=True),
        sa.Column('language', sa.String(20), nullable=True),
        sa.Column('tier', sa.String(20), nullable=True),
        sa.Column('referrer', sa.Boolean, nullable=False),
        sa.Column('last_invited_at', TS, nullable=True),
        sa.PrimaryKeyConstraint('customer_id')
    )
    op.create_table('survey_response',
        sa.Column('id', sa.String(36), nullable=False),
        sa.Column('invitation_id', sa.String(36), nullable=False),
        sa.Column('customer_id', sa.String(100), nullable=False),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('template_id', sa.String(100), nullable=False),
        sa.Column('template_version', sa.Integer, nullable=False),
        sa.Column('booking_id', sa.String(100), nullable=True),
        sa.Column('complaint_id', sa.String(100), nullable=True),
        sa.Column('product_id', sa.String(100), nullable=True),
        sa.Column('destination', sa.String(200), nullable=True),
        sa.Column('guide', sa.String(100), nullable=True),
        sa.Column('supplier', sa.String(100), nullable=True),
        sa.Column('channel', sa.String(20), nullable=True),
        sa.Column('tier', sa.String(20), nullable=True),
        sa.Column('nps', sa.Integer, nullable=True),
        sa.Column('csat', sa.Integer, nullable=True),
        sa.Column('ratings', sa.JSON, nullable=False),
        sa.Column('answers', sa.JSON, nullable=False),
        sa.Column('comment', sa.Text, nullable=True),
        sa.Column('language', sa.String(20), nullable=True),
        sa.Column('sentiment', sa.String(10), nullable=True),
        sa.Column('sentiment_score', sa.Float, nullable=True),
        sa.Column('topics', sa.JSON, nullable=False),
        sa.Column('analyser', sa.String(20), nullable=True),
        sa.Column('detractor', sa.Boolean, nullable=False),
        sa.Column('submitted_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('invitation_id')
    )
    op.create_index(op.f('ix_survey_response_customer_id'), 'survey_response', ['customer_id'], unique=False)
    op.create_index(op.f('ix_survey_response_submitted_at'), 'survey_response', ['submitted_at'], unique=False)
    op.create_table('survey_template',
        sa.Column('template_id', sa.String(100), nullable=False),
        sa.Column('version', sa.Integer, nullable=False),
        sa.Column('kind', sa.String(20), nullable=False),
        sa.Column('title', sa.JSON, nullable=False),
        sa.Column('questions', sa.JSON, nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.PrimaryKeyConstraint('template_id', 'version')
    )


def downgrade() -> None:
    for table in ("survey_template", "survey_response", "survey_customer", "review", "open_complaint", "invitation",
                  "feedback_setting"):
        op.drop_table(table)
