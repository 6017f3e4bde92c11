"""accounts: a public handle each person may choose (unique whatever the case)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("handle", sa.String(length=32), nullable=True))
    # An expression index: "Rosa" and "rosa" are one handle. NULLs (no handle) never collide.
    op.create_index("ix_accounts_handle_lower", "accounts", [sa.text("lower(handle)")],
                    unique=True)


def downgrade() -> None:
    op.drop_index("ix_accounts_handle_lower", table_name="accounts")
    # A plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a batch copy of the table: the
    # copy would drop "accounts", and with foreign keys on that deletes every key and session.
    op.drop_column("accounts", "handle")
