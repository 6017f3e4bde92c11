"""observations: Darwin Core exchange — imported occurrences, their photos' credits, the people
archives name, and this server's dataset identifier

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

import hortus.db.base

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No row here: the dataset's identifier is made the first time it is needed, so a copy of
    # a database made before that (a test template, a fresh install's image) is a dataset of
    # its own.
    op.create_table(
        "dwc_datasets",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("identifier", sa.String(length=36), nullable=False),
        sa.Column("created_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dwc_datasets")),
    )
    op.create_table(
        "dwc_occurrences",
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("occurrence_id", sa.String(length=400), nullable=False),
        sa.Column("recorded_by", sa.String(length=300), nullable=True),
        sa.Column("scientific_name", sa.String(length=300), nullable=True),
        sa.Column("imported_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["observation_id"], ["observations.id"],
                                name=op.f("fk_dwc_occurrences_observation_id_observations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("observation_id", name=op.f("pk_dwc_occurrences")),
        sa.UniqueConstraint("occurrence_id", name=op.f("uq_dwc_occurrences_occurrence_id")),
    )
    op.create_table(
        "dwc_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("identifier", sa.String(length=2000), nullable=True),
        sa.Column("license", sa.String(length=300), nullable=True),
        sa.Column("creator", sa.String(length=300), nullable=True),
        sa.Column("rights_holder", sa.String(length=300), nullable=True),
        sa.Column("skipped", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["observation_id"], ["observations.id"],
                                name=op.f("fk_dwc_media_observation_id_observations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dwc_media")),
        sa.UniqueConstraint("observation_id", "position",
                            name=op.f("uq_dwc_media_observation_id")),
    )
    op.create_index(op.f("ix_dwc_media_observation_id"), "dwc_media", ["observation_id"])
    op.create_table(
        "dwc_people",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_dwc_people_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_dwc_people")),
        sa.UniqueConstraint("name_key", name=op.f("uq_dwc_people_name_key")),
    )


def downgrade() -> None:
    op.drop_table("dwc_people")
    op.drop_index(op.f("ix_dwc_media_observation_id"), table_name="dwc_media")
    op.drop_table("dwc_media")
    op.drop_table("dwc_occurrences")
    op.drop_table("dwc_datasets")
