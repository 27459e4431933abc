"""fenced conversations: one row per conversation (step, closed, first run); queue exclusions

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa
import store.schema


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('conversations',
    sa.Column('conversation_id', sa.String(length=200), nullable=False),
    sa.Column('workflow_id', sa.String(length=250), nullable=False),
    sa.Column('first_run_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('skill_id', sa.String(length=200), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('started_at', store.schema.UTCDateTime(), nullable=False),
    sa.Column('closed_at', store.schema.UTCDateTime(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('conversation_id')
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('conversations_open', ['closed_at'], unique=False)
    with op.batch_alter_table('queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('excluded', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('queue', schema=None) as batch_op:
        batch_op.drop_column('excluded')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('conversations_open')
    op.drop_table('conversations')
