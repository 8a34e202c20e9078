"""opportunities

Revision ID: 0007
Revises: 0006

Opportunities on a customer (stage, amount, owner and the people involved by role, entered_stage_at
and a yellow/red flag for the dwell check), their evidence and requirement changes; approvals may
name the opportunity they belong to; messages keep their type and, for files, the archive record's
file name, size and md5 (evidence is taken from the chat, not retyped). Approvals gain the status value
"returned" (补充: sent back for material, not rejected); the column is a String(16), no DDL needed.
"""
from alembic import op
import sqlalchemy as sa

import storage.models

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('opportunities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.Numeric(precision=16, scale=2), nullable=True),
    sa.Column('expected_close_at', storage.models.UTCDateTime(), nullable=True),
    sa.Column('owner_id', sa.String(length=64), nullable=True),
    sa.Column('solution_lead_id', sa.String(length=64), nullable=True),
    sa.Column('delivery_id', sa.String(length=64), nullable=True),
    sa.Column('success_id', sa.String(length=64), nullable=True),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('entered_stage_at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('flag', sa.String(length=8), nullable=True),
    sa.Column('flag_level', sa.Integer(), nullable=False),
    sa.Column('lost_reason', sa.Text(), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('updated_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_opportunities_customer_id_customers')),
    sa.ForeignKeyConstraint(['delivery_id'], ['users.id'], name=op.f('fk_opportunities_delivery_id_users')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_opportunities_owner_id_users')),
    sa.ForeignKeyConstraint(['solution_lead_id'], ['users.id'], name=op.f('fk_opportunities_solution_lead_id_users')),
    sa.ForeignKeyConstraint(['success_id'], ['users.id'], name=op.f('fk_opportunities_success_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunities'))
    )
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opportunities_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_opportunities_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index('ix_opportunities_stage', ['status', 'entered_stage_at'], unique=False)

    op.create_table('opportunity_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('opportunity_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('raised_by', sa.String(length=16), nullable=False),
    sa.Column('impact', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], name=op.f('fk_opportunity_changes_opportunity_id_opportunities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity_changes'))
    )
    with op.batch_alter_table('opportunity_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opportunity_changes_opportunity_id'), ['opportunity_id'], unique=False)

    op.create_table('opportunity_evidence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('opportunity_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('approval_id', sa.Integer(), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=True),
    sa.Column('file_size', sa.BigInteger(), nullable=True),
    sa.Column('file_md5', sa.String(length=64), nullable=True),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('added_by', sa.String(length=64), nullable=False),
    sa.Column('added_at', storage.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['approval_id'], ['approvals.id'], name=op.f('fk_opportunity_evidence_approval_id_approvals')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_opportunity_evidence_message_id_messages')),
    sa.ForeignKeyConstraint(['opportunity_id'], ['opportunities.id'], name=op.f('fk_opportunity_evidence_opportunity_id_opportunities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opportunity_evidence'))
    )
    with op.batch_alter_table('opportunity_evidence', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opportunity_evidence_opportunity_id'), ['opportunity_id'], unique=False)

    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opportunity_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_approvals_opportunity_id'), ['opportunity_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_approvals_opportunity_id_opportunities'), 'opportunities', ['opportunity_id'], ['id'])

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('msg_type', sa.String(length=16), server_default='text', nullable=False))
        batch_op.add_column(sa.Column('file_name', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('file_size', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('file_md5', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('file_md5')
        batch_op.drop_column('file_size')
        batch_op.drop_column('file_name')
        batch_op.drop_column('msg_type')

    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_approvals_opportunity_id_opportunities'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_approvals_opportunity_id'))
        batch_op.drop_column('opportunity_id')

    with op.batch_alter_table('opportunity_evidence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunity_evidence_opportunity_id'))

    op.drop_table('opportunity_evidence')
    with op.batch_alter_table('opportunity_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opportunity_changes_opportunity_id'))

    op.drop_table('opportunity_changes')
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_index('ix_opportunities_stage')
        batch_op.drop_index(batch_op.f('ix_opportunities_owner_id'))
        batch_op.drop_index(batch_op.f('ix_opportunities_customer_id'))

    op.drop_table('opportunities')
