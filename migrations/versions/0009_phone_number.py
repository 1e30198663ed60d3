"""a person's verified mobile number; citizen accounts may register with a phone only (issue 16)

Revision ID: 0009
Revises: 0010
Create Date: 2026-12-05 11:55:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_number', sa.String(length=20), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_people_phone_number'), ['phone_number'])
    with op.batch_alter_table('citizen_accounts', schema=None) as batch_op:
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=True)


def downgrade():
    # Going back needs an address on every account: phone-only registrations cannot be kept.
    op.execute('DELETE FROM citizen_accounts WHERE email IS NULL')
    with op.batch_alter_table('citizen_accounts', schema=None) as batch_op:
        batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=False)
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_people_phone_number'), type_='unique')
        batch_op.drop_column('phone_number')
