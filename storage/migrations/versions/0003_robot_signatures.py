"""security: dingtalk robot sign pairs

Revision ID: 0003
Revises: 0002

robot_signatures: each DingTalk robot (timestamp, sign) header pair seen in HTTP mode and the one
msgId it carried, kept for the signature's freshness window.
"""
from alembic import op
import sqlalchemy as sa

import storage.models

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('robot_signatures',
    sa.Column('timestamp', sa.String(length=20), nullable=False),
    sa.Column('sign', sa.String(length=64), nullable=False),
    sa.Column('msg_id', sa.String(length=128), nullable=False),
    sa.Column('expires_at', storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('timestamp', 'sign', name=op.f('pk_robot_signatures'))
    )
    with op.batch_alter_table('robot_signatures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_robot_signatures_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('robot_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_robot_signatures_expires_at'))
    op.drop_table('robot_signatures')
