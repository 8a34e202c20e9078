"""process health: weekly snapshots of the metrics' samples

Revision ID: 0009
Revises: 0008

`health_snapshots(week, metric, basis)` holds one metric's per-person samples of an ended week (JSON),
saved once by the tick; the board's 12-week trend reads them instead of recomputing past weeks.

Indexes for the board's and the report's queries of the current week, chosen so SQLite's planner picks
them without statistics (checked with EXPLAIN QUERY PLAN on the bench's company-size database):
- customers (owner_id, status, last_activity_at): 客户沉默预警数 per owner, index-only;
- approvals (status, decided_at), approval_steps (status, decided_at): decided this week, instead of every
  decided row; approvals (created_at), approval_steps (started_at): submitted / escalated this week;
- approval_steps (approval_id, status): an open approval's pending step (the 审批看板 join did a scan
  of every pending step per approval);
- todos (due_at, done_at, created_at, owner_id) and (owner_id, due_at, done_at, created_at): overdue
  to-dos as of a time, index-only for the company and per owner; (status, done_at): closed this week;
  (created_at, owner_id, due_at, role): created this week, and hand-offs (role set) without a lookup per row;
- risk_events (severity, status, created_at): open high risks; severity first, so the 风险 panel's
  "open or raised this week, newest first" keeps walking created_at backwards to its 200 rows (with
  status first the planner took a multi-index OR and sorted every open risk).
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_customers_owner_silent', 'customers', ['owner_id', 'status', 'last_activity_at']),
    ('ix_approvals_status_decided', 'approvals', ['status', 'decided_at']),
    ('ix_approvals_created_at', 'approvals', ['created_at']),
    ('ix_approval_steps_open', 'approval_steps', ['approval_id', 'status']),
    ('ix_approval_steps_status_decided', 'approval_steps', ['status', 'decided_at']),
    ('ix_approval_steps_started_at', 'approval_steps', ['started_at']),
    ('ix_todos_overdue', 'todos', ['due_at', 'done_at', 'created_at', 'owner_id']),
    ('ix_todos_owner_overdue', 'todos', ['owner_id', 'due_at', 'done_at', 'created_at']),
    ('ix_todos_status_done', 'todos', ['status', 'done_at']),
    ('ix_todos_created_at', 'todos', ['created_at', 'owner_id', 'due_at', 'role']),
    ('ix_risk_events_open', 'risk_events', ['severity', 'status', 'created_at']),
]


def upgrade() -> None:
    op.create_table(
        'health_snapshots',
        sa.Column('week', sa.String(length=10), nullable=False),
        sa.Column('metric', sa.String(length=64), nullable=False),
        sa.Column('basis', sa.String(length=16), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('digest', sa.String(length=32), nullable=False),
        sa.Column('taken_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('week', 'metric', 'basis', name=op.f('pk_health_snapshots')),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_table('health_snapshots')
