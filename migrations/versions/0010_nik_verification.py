"""how well a NIK is proven: the registry verification queue, the time a NIK was verified, NIK claims (issue 15)

Revision ID: 0010
Revises: 0011
Create Date: 2026-12-05 11:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'nik_verifications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('nik_hash', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('payload_enc', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('matched', sa.JSON(), nullable=True),
        sa.Column('request_id', sa.String(length=64), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('completed_at', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_nik_verifications_person_id_people'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_nik_verifications')),
    )
    with op.batch_alter_table('nik_verifications', schema=None) as batch_op:
        batch_op.create_index('ix_nik_verifications_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_nik_verifications_nik_hash'), ['nik_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_nik_verifications_person_id'), ['person_id'], unique=False)
    with op.batch_alter_table('citizen_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nik_verified_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('claimed_nik_hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_citizen_accounts_claimed_nik_hash'), ['claimed_nik_hash'], unique=False)
        batch_op.alter_column('nik_hash', existing_type=sa.String(length=64), nullable=True)


def downgrade():
    # Going back: accounts that only claim a NIK cannot exist in the old schema (nik_hash NOT NULL).
    op.execute("DELETE FROM identity_links WHERE source = 'citizen' AND subject IN "
               "(SELECT public_id FROM citizen_accounts WHERE nik_hash IS NULL)")
    op.execute('DELETE FROM citizen_accounts WHERE nik_hash IS NULL')
    with op.batch_alter_table('citizen_accounts', schema=None) as batch_op:
        batch_op.alter_column('nik_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index(batch_op.f('ix_citizen_accounts_claimed_nik_hash'))
        batch_op.drop_column('claimed_nik_hash')
        batch_op.drop_column('nik_verified_at')
    with op.batch_alter_table('nik_verifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nik_verifications_person_id'))
        batch_op.drop_index(batch_op.f('ix_nik_verifications_nik_hash'))
        batch_op.drop_index('ix_nik_verifications_due')
    op.drop_table('nik_verifications')
