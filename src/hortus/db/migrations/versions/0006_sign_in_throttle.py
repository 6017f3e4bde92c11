"""accounts: sign-in throttling (failed sign-ins per account and per address, sign-ups per address)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import hortus.db.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", hortus.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scope", "subject", name=op.f("pk_sign_in_throttle")),
    )


def downgrade() -> None:
    op.drop_table("sign_in_throttle")
