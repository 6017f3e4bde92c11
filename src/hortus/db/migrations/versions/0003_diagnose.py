"""diagnose: disease catalogue and stored image analyses

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import hortus.db.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "diseases",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("eppo_code", sa.String(length=12), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("scientific_name", sa.String(length=300), nullable=True),
        sa.Column("pathogen_class", sa.String(length=32), nullable=False),
        sa.Column("symptoms", sa.Text(), nullable=True),
        sa.Column("organic_treatment", sa.Text(), nullable=True),
        sa.Column("chemical_treatment", sa.Text(), nullable=True),
        sa.Column("prevention", sa.Text(), nullable=True),
        sa.Column("created_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_diseases")),
    )
    with op.batch_alter_table("diseases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_diseases_eppo_code"), ["eppo_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_diseases_pathogen_class"), ["pathogen_class"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_diseases_scientific_name"), ["scientific_name"],
                              unique=False)

    op.create_table(
        "disease_hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disease_id", sa.Integer(), nullable=False),
        sa.Column("scientific_name", sa.String(length=300), nullable=False),
        sa.Column("plant_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["disease_id"], ["diseases.id"],
                                name=op.f("fk_disease_hosts_disease_id_diseases"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["plant_id"], ["plants.id"],
                                name=op.f("fk_disease_hosts_plant_id_plants"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disease_hosts")),
        sa.UniqueConstraint("disease_id", "scientific_name",
                            name=op.f("uq_disease_hosts_disease_id")),
    )
    with op.batch_alter_table("disease_hosts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disease_hosts_plant_id"), ["plant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disease_hosts_scientific_name"),
                              ["scientific_name"], unique=False)

    op.create_table(
        "disease_common_names",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disease_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["disease_id"], ["diseases.id"],
                                name=op.f("fk_disease_common_names_disease_id_diseases"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disease_common_names")),
        sa.UniqueConstraint("disease_id", "language",
                            name=op.f("uq_disease_common_names_disease_id")),
    )

    op.create_table(
        "analyses",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("created_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("picture_path", sa.String(length=200), nullable=False),
        sa.Column("picture_format", sa.String(length=8), nullable=False),
        sa.Column("picture_bytes", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("gps_accuracy", sa.Float(), nullable=True),
        sa.Column("eppo", sa.String(length=12), nullable=True),
        sa.Column("user_id", sa.String(length=200), nullable=True),
        sa.Column("user_name", sa.String(length=200), nullable=True),
        sa.Column("crop", sa.String(length=200), nullable=True),
        sa.Column("variety", sa.String(length=200), nullable=True),
        sa.Column("timestamp", sa.String(length=64), nullable=True),
        sa.Column("taken_at", hortus.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("project", sa.String(length=64), nullable=True),
        sa.Column("project_version", sa.String(length=64), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_analyses_account_id_accounts"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
    )
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.create_index("ix_analyses_account_id_created_at", ["account_id", "created_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.drop_index("ix_analyses_account_id_created_at")
    op.drop_table("analyses")
    op.drop_table("disease_common_names")
    with op.batch_alter_table("disease_hosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disease_hosts_scientific_name"))
        batch_op.drop_index(batch_op.f("ix_disease_hosts_plant_id"))
    op.drop_table("disease_hosts")
    with op.batch_alter_table("diseases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_diseases_scientific_name"))
        batch_op.drop_index(batch_op.f("ix_diseases_pathogen_class"))
        batch_op.drop_index(batch_op.f("ix_diseases_eppo_code"))
    op.drop_table("diseases")
