"""process health: weekly report runs, used board login links

Revision ID: 0008
Revises: 0007

`report_runs(manager_id, week)` is the claim that makes the tick send each manager one weekly report;
`board_logins(nonce)` holds the nonces of board login links already used, so a replay is refused.
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'report_runs',
        sa.Column('manager_id', sa.String(length=64), nullable=False),
        sa.Column('week', sa.String(length=10), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('manager_id', 'week', name=op.f('pk_report_runs')),
    )
    op.create_table(
        'board_logins',
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('nonce', name=op.f('pk_board_logins')),
    )


def downgrade() -> None:
    op.drop_table('board_logins')
    op.drop_table('report_runs')
