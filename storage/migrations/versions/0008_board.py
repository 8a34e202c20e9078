"""process health: weekly report runs, used board login links

Revision ID: 0008
Revises: 0007

`report_runs(manager_id, week)` is the claim that makes the tick send each manager one weekly report;
`board_logins(nonce)` holds the nonces of board login links already used, so a replay is refused.
Indexes on the time columns the report's and the board's queries read ranges of.
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_approvals_decided_at', 'approvals', 'decided_at'),
    ('ix_approval_steps_decided_at', 'approval_steps', 'decided_at'),
    ('ix_todos_due_at', 'todos', 'due_at'),
    ('ix_risk_events_created_at', 'risk_events', 'created_at'),
    ('ix_audit_log_at', 'audit_log', 'at'),
]


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
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_table('board_logins')
    op.drop_table('report_runs')
