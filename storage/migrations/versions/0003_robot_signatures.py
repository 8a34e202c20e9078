"""security: dingtalk robot sign pairs

Revision ID: 0003
Revises: 0002

robot_signatures: each DingTalk robot (timestamp, sign) header pair seen in HTTP mode and the one
msgId it carried, kept for the signature's freshness window. Existing customer names are normalised
the way new ones now are (NFKC, no zero-width or control characters, single spaces), so a name typed
today matches the customer stored before.
"""
import re
import unicodedata

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
    customers = sa.table('customers', sa.column('id', sa.Integer), sa.column('name', sa.String))
    conn = op.get_bind()
    for customer_id, name in conn.execute(sa.select(customers.c.id, customers.c.name)).all():
        normal = _normal_name(name)[:200] or name
        if normal != name:
            conn.execute(customers.update().where(customers.c.id == customer_id).values(name=normal))


def _normal_name(name: str) -> str:
    """storage.customers.normal_name as of this revision (frozen here: migrations must not change)."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    return re.sub(r"\s+", " ", text).strip()


def downgrade() -> None:
    with op.batch_alter_table('robot_signatures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_robot_signatures_expires_at'))
    op.drop_table('robot_signatures')
