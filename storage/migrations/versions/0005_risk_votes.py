"""keywords: risk votes and outcomes

Revision ID: 0005
Revises: 0004

Risk events get their closing (result, closed_at, closed_by), the reminder level and the digest flag;
risk_votes holds the 误报 / 有用 verdicts of the people who read the cards.
"""
from alembic import op
import sqlalchemy as sa

import storage.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('risk_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('result', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('closed_at', storage.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('closed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('remind_level', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('digest_pending', sa.Boolean(), server_default='0', nullable=False))
    op.create_table('risk_votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('keyword', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('vote', sa.String(length=16), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['risk_events.id'], name=op.f('fk_risk_votes_event_id_risk_events')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_risk_votes_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_votes')),
    sa.UniqueConstraint('event_id', 'user_id', name=op.f('uq_risk_votes_event_id'))
    )
    with op.batch_alter_table('risk_votes', schema=None) as batch_op:
        batch_op.create_index('ix_risk_votes_rule', ['rule', 'keyword'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('risk_votes', schema=None) as batch_op:
        batch_op.drop_index('ix_risk_votes_rule')
    op.drop_table('risk_votes')
    with op.batch_alter_table('risk_events', schema=None) as batch_op:
        batch_op.drop_column('digest_pending')
        batch_op.drop_column('remind_level')
        batch_op.drop_column('closed_by')
        batch_op.drop_column('closed_at')
        batch_op.drop_column('result')
