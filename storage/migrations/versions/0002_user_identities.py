"""house: user platform identities

Revision ID: 0002
Revises: 0001

`users.wecom_userid` / `users.dingtalk_userid` become rows of `user_identities(user_id, platform,
external_id)`, unique on (platform, external_id) like customer_identities, so a third platform adds
rows, not columns. Every user's existing ids are copied before the columns go; downgrade copies the
wecom and dingtalk rows back (ids of any other platform have no column to go to and are dropped).

Org events are stored under neutral kinds now (member_left / member_changed): existing rows are renamed.
Inbound rows holding raw platform events need no change: the inbound job hands them to their
platform's edge to decode (handlers.events.stored_event).
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

COLUMNS = {'wecom': 'wecom_userid', 'dingtalk': 'dingtalk_userid'}
ORG_KINDS = {'user_leave_org': 'member_left', 'user_modify_org': 'member_changed'}


def _rename_org_kinds(renames: dict[str, str]) -> None:
    for old, new in renames.items():
        op.execute(sa.text("UPDATE org_events SET kind = :new WHERE kind = :old").bindparams(old=old, new=new))


def upgrade() -> None:
    op.create_table(
        'user_identities',
        sa.Column('user_id', sa.String(length=64), nullable=False),
        sa.Column('platform', sa.String(length=16), nullable=False),
        sa.Column('external_id', sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_identities_user_id_users')),
        sa.PrimaryKeyConstraint('user_id', 'platform', name=op.f('pk_user_identities')),
        sa.UniqueConstraint('platform', 'external_id', name=op.f('uq_user_identities_platform')),
    )
    for platform, column in COLUMNS.items():
        op.execute(sa.text(
            f"INSERT INTO user_identities (user_id, platform, external_id) "
            f"SELECT id, :platform, {column} FROM users WHERE {column} IS NOT NULL AND {column} <> ''"
        ).bindparams(platform=platform))
    with op.batch_alter_table('users', schema=None) as batch_op:
        for column in COLUMNS.values():
            batch_op.drop_constraint(f'uq_users_{column}', type_='unique')
            batch_op.drop_column(column)
    _rename_org_kinds(ORG_KINDS)


def downgrade() -> None:
    _rename_org_kinds({new: old for old, new in ORG_KINDS.items()})
    with op.batch_alter_table('users', schema=None) as batch_op:
        for column in COLUMNS.values():
            batch_op.add_column(sa.Column(column, sa.String(length=64), nullable=True))
    for platform, column in COLUMNS.items():
        op.execute(sa.text(
            f"UPDATE users SET {column} = (SELECT external_id FROM user_identities "
            f"WHERE user_identities.user_id = users.id AND user_identities.platform = :platform)"
        ).bindparams(platform=platform))
    with op.batch_alter_table('users', schema=None) as batch_op:
        for column in COLUMNS.values():
            batch_op.create_unique_constraint(f'uq_users_{column}', [column])
    op.drop_table('user_identities')
