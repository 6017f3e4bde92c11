"""media: photos as database rows (the database media backend); analyses name their picture by sha256

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import hortus.db.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media_objects",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", hortus.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_media_objects")),
    )
    op.create_table(
        "media_chunks",
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["key"], ["media_objects.key"],
                                name=op.f("fk_media_chunks_key_media_objects"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key", "seq", name=op.f("pk_media_chunks")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Photos do not compress: store chunks out of line uncompressed (no futile attempt).
        op.execute("ALTER TABLE media_chunks ALTER COLUMN data SET STORAGE EXTERNAL")
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("picture_sha256", sa.String(length=64), nullable=True))
        batch_op.alter_column("picture_path", existing_type=sa.String(length=200),
                              nullable=True)
        batch_op.create_index(batch_op.f("ix_analyses_picture_sha256"), ["picture_sha256"],
                              unique=False)


def downgrade() -> None:
    op.execute("UPDATE analyses SET picture_path = '' WHERE picture_path IS NULL")
    with op.batch_alter_table("analyses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analyses_picture_sha256"))
        batch_op.alter_column("picture_path", existing_type=sa.String(length=200),
                              nullable=False)
        batch_op.drop_column("picture_sha256")
    op.drop_table("media_chunks")
    op.drop_table("media_objects")
