"""sessions watched for expiry (back-channel logout on idle/absolute timeout)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 04:05:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('watched_sessions',
    sa.Column('sid', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('sub', sa.String(length=64), nullable=False),
    sa.Column('clients', sa.JSON(), nullable=False),
    sa.Column('absolute_exp', sa.DateTime(), nullable=False),
    sa.Column('checked_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('sid', name=op.f('pk_watched_sessions'))
    )
    with op.batch_alter_table('watched_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_watched_sessions_checked_at'), ['checked_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_watched_sessions_person_id'), ['person_id'], unique=False)


def downgrade():
    with op.batch_alter_table('watched_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_watched_sessions_person_id'))
        batch_op.drop_index(batch_op.f('ix_watched_sessions_checked_at'))
    op.drop_table('watched_sessions')
