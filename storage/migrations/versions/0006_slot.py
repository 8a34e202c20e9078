"""leads and ownership

Revision ID: 0006
Revises: 0005

A reserved slot in the chain: parallel branches each fill their own revision, so the chain never forks.
An unused slot stays a no-op.
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
