"""initial schema

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa
import store.schema


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('gateways',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('accounts', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('heroes',
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('customer', sa.String(length=200), nullable=False),
    sa.Column('agent_id', sa.String(length=200), nullable=True),
    sa.Column('inbox', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('account_id', 'customer')
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('recipient', sa.String(length=250), nullable=False),
    sa.Column('conversation_id', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=50), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', store.schema.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_recipient'), ['recipient'], unique=False)

    op.create_table('queue',
    sa.Column('conversation_id', sa.String(length=200), nullable=False),
    sa.Column('workflow_id', sa.String(length=250), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('skill_id', sa.String(length=200), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('waiting_since', store.schema.UTCDateTime(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id')
    )
    with op.batch_alter_table('queue', schema=None) as batch_op:
        batch_op.create_index('queue_order', ['account_id', 'skill_id', 'priority', 'waiting_since'], unique=False)

    op.create_table('tokens',
    sa.Column('hash', sa.String(length=128), nullable=False),
    sa.Column('principal', sa.String(length=250), nullable=False),
    sa.Column('created_at', store.schema.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', store.schema.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('hash')
    )
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tokens_principal'), ['principal'], unique=False)

    op.create_table('agents',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('load', sa.Integer(), nullable=False),
    sa.Column('idle_since', store.schema.UTCDateTime(), nullable=True),
    sa.CheckConstraint('capacity IS NULL OR load <= capacity', name='load_within_capacity'),
    sa.CheckConstraint('load >= 0', name='load_not_negative'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agents_account_id'), ['account_id'], unique=False)

    op.create_table('skills',
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'id')
    )
    op.create_table('agent_skills',
    sa.Column('agent_id', sa.String(length=200), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('skill_id', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('agent_id', 'skill_id')
    )
    with op.batch_alter_table('agent_skills', schema=None) as batch_op:
        batch_op.create_index('agent_skills_by_skill', ['account_id', 'skill_id'], unique=False)

    op.create_table('holds',
    sa.Column('conversation_id', sa.String(length=200), nullable=False),
    sa.Column('workflow_id', sa.String(length=250), nullable=False),
    sa.Column('agent_id', sa.String(length=200), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('skill_id', sa.String(length=200), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('offered_at', store.schema.UTCDateTime(), nullable=False),
    sa.Column('expires_at', store.schema.UTCDateTime(), nullable=False),
    sa.Column('outcome', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], ),
    sa.PrimaryKeyConstraint('conversation_id')
    )
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holds_agent_id'), ['agent_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holds_agent_id'))

    op.drop_table('holds')
    with op.batch_alter_table('agent_skills', schema=None) as batch_op:
        batch_op.drop_index('agent_skills_by_skill')

    op.drop_table('agent_skills')
    op.drop_table('skills')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agents_account_id'))

    op.drop_table('agents')
    with op.batch_alter_table('tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tokens_principal'))

    op.drop_table('tokens')
    with op.batch_alter_table('queue', schema=None) as batch_op:
        batch_op.drop_index('queue_order')

    op.drop_table('queue')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_recipient'))

    op.drop_table('outbox')
    op.drop_table('heroes')
    op.drop_table('gateways')
    op.drop_table('accounts')
