"""observations: photos, votes, and the label aggregation's state (community review)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import hortus.db.base

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("observed_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("location_accuracy", sa.Float(), nullable=True),
        sa.Column("place", sa.String(length=300), nullable=True),
        sa.Column("license", sa.String(length=16), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("ai_suggestions", sa.JSON(), nullable=False),
        sa.Column("ai_rejected", sa.Boolean(), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("created_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", hortus.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["accounts.id"],
                                name=op.f("fk_observations_author_id_accounts"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observations")),
    )
    op.create_index(op.f("ix_observations_author_id"), "observations", ["author_id"])
    op.create_index(op.f("ix_observations_updated_at"), "observations", ["updated_at"])

    op.create_table(
        "observation_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("declared_organ", sa.String(length=16), nullable=False),
        sa.Column("organ", sa.String(length=16), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["observation_id"], ["observations.id"],
                                name=op.f("fk_observation_images_observation_id_observations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation_images")),
        sa.UniqueConstraint("observation_id", "sha256",
                            name=op.f("uq_observation_images_observation_id")),
    )
    op.create_index(op.f("ix_observation_images_sha256"), "observation_images", ["sha256"])

    op.create_table(
        "observation_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("image", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=300), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("created_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_observation_votes_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["observation_id"], ["observations.id"],
                                name=op.f("fk_observation_votes_observation_id_observations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation_votes")),
        sa.UniqueConstraint("observation_id", "account_id", "kind", "image",
                            name=op.f("uq_observation_votes_observation_id")),
    )
    op.create_index("ix_observation_votes_account_id_kind", "observation_votes",
                    ["account_id", "kind"])

    op.create_table(
        "observation_labels",
        sa.Column("observation_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["observation_id"], ["observations.id"],
                                name=op.f("fk_observation_labels_observation_id_observations"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("observation_id", name=op.f("pk_observation_labels")),
    )
    op.create_index(op.f("ix_observation_labels_valid"), "observation_labels", ["valid"])

    op.create_table(
        "reviewer_standings",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("author_species", sa.JSON(), nullable=False),
        sa.Column("voter_species", sa.JSON(), nullable=False),
        sa.Column("expertise", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_reviewer_standings_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_reviewer_standings")),
    )

    runs = op.create_table(
        "review_runs",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("changes_by_round", sa.JSON(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("updated_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_runs")),
    )
    # The single row every vote locks: it exists from the start, so no two first votes race
    # to create it. An empty policy makes the first vote compute the state from scratch.
    op.bulk_insert(runs, [{"id": 1, "policy": "", "changes_by_round": [0], "token": "",
                           "updated_at": hortus.db.base.utcnow()}])


def downgrade() -> None:
    op.drop_table("review_runs")
    op.drop_table("reviewer_standings")
    op.drop_index(op.f("ix_observation_labels_valid"), table_name="observation_labels")
    op.drop_table("observation_labels")
    op.drop_index("ix_observation_votes_account_id_kind", table_name="observation_votes")
    op.drop_table("observation_votes")
    op.drop_index(op.f("ix_observation_images_sha256"), table_name="observation_images")
    op.drop_table("observation_images")
    op.drop_index(op.f("ix_observations_updated_at"), table_name="observations")
    op.drop_index(op.f("ix_observations_author_id"), table_name="observations")
    op.drop_table("observations")
