"""delivery: outbox priority and retry window

Revision ID: 0004
Revises: 0003

Outbox rows get a priority (decisions, escalations and risk cards go before receipts when a
recipient's rate limit lets only some through) and a collapse key with a count (receipts of notes
typed in quick succession merge into one unsent row).
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("collapse_key", sa.String(64), nullable=True))
        batch.add_column(sa.Column("collapsed", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("collapsed")
        batch.drop_column("collapse_key")
        batch.drop_column("priority")
