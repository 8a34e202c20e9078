"""reserved slot

Revision ID: 0009
Revises: 0008

A reserved slot in the chain: parallel branches each fill their own revision, so the chain never forks.
An unused slot stays a no-op.
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
