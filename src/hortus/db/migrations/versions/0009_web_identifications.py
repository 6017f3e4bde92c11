"""web: identifications made on the web page (results with their own links, history), and the
daily count of signed-out identifications per client address

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

import hortus.db.base

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_identifications",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("created_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_web_identifications_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_identifications")),
    )
    op.create_index("ix_web_identifications_account_id_created_at", "web_identifications",
                    ["account_id", "created_at"], unique=False)
    op.create_index(op.f("ix_web_identifications_created_at"), "web_identifications",
                    ["created_at"], unique=False)
    op.create_table(
        "web_visitor_counts",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "day", name=op.f("pk_web_visitor_counts")),
    )


def downgrade() -> None:
    op.drop_table("web_visitor_counts")
    op.drop_index(op.f("ix_web_identifications_created_at"), table_name="web_identifications")
    op.drop_index("ix_web_identifications_account_id_created_at",
                  table_name="web_identifications")
    op.drop_table("web_identifications")
