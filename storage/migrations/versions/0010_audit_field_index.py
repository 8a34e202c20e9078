"""audit_log (entity, field, at): the lead and deal metrics' history reads

Revision ID: 0010
Revises: 0009

The 线索 and 商机 metrics rebuild assignments and stage moves from the audit log ("owner_id" / "stage"
changes of leads and opportunities in a week). With only (entity, entity_id) SQLite walked every lead's
audit rows; (entity, field, at) serves both sides of their OR and the subquery.
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_audit_field_at', 'audit_log', ['entity', 'field', 'at'])


def downgrade() -> None:
    op.drop_index('ix_audit_field_at', table_name='audit_log')
