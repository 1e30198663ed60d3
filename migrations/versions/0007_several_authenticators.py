"""a person may hold several TOTP authenticators (kept from both sides of a linking merge)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 10:50:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('totp_credentials', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_totp_credentials_person_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_totp_credentials_person_id'), ['person_id'], unique=False)


def downgrade():
    # Going back keeps one authenticator per person (the newest): the old schema cannot hold more.
    op.execute('DELETE FROM totp_credentials WHERE id NOT IN '
               '(SELECT MAX(id) FROM totp_credentials GROUP BY person_id)')
    with op.batch_alter_table('totp_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_totp_credentials_person_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_totp_credentials_person_id'), ['person_id'])
