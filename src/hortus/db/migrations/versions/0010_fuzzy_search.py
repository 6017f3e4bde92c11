"""plants: typo-tolerant search — the vocabulary of plant names and its trigram index

Every document's names are rewritten as ``fulltext.names_text`` writes them (lower-case words,
plus the accent-free spelling of accented ones), then ``plant_name_terms`` is created and
filled, with its trigram index (FTS5 ``trigram`` on SQLite, ``pg_trgm`` on PostgreSQL) and the
triggers that keep both in step with the documents.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

from hortus.db import fulltext

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    fulltext.create_fuzzy_index(op.get_bind())


def downgrade() -> None:
    # The documents keep their rewritten names: the older full-text search reads them as well.
    fulltext.drop_fuzzy_index(op.get_bind())
