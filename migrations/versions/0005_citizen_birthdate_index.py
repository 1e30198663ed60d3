"""index citizen accounts by birth date and sex (link offer by NIP)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 04:15:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('citizen_accounts', schema=None) as batch_op:
        batch_op.create_index('ix_citizen_accounts_birthdate_gender', ['birthdate', 'gender'], unique=False)


def downgrade():
    with op.batch_alter_table('citizen_accounts', schema=None) as batch_op:
        batch_op.drop_index('ix_citizen_accounts_birthdate_gender')
