"""Full-text search over plant documents: SQLite FTS5 or PostgreSQL tsvector, one interface.

The documents live in ``plant_search_documents`` (names, body) on both backends. SQLite indexes
them with an external-content FTS5 table kept in sync by triggers; PostgreSQL with a generated
``tsvector`` column and a GIN index. Queries are built from word tokens only, so user input never
reaches either query language as syntax.
"""

from __future__ import annotations

import re

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.engine import Connection

_TOKEN = re.compile(r"\w+", re.UNICODE)
MAX_TOKENS = 12

SQLITE_DDL = [
    """CREATE VIRTUAL TABLE plant_fts USING fts5(
        names, body, content='plant_search_documents', content_rowid='plant_id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3')""",
    """CREATE TRIGGER plant_fts_ai AFTER INSERT ON plant_search_documents BEGIN
        INSERT INTO plant_fts(rowid, names, body) VALUES (new.plant_id, new.names, new.body);
    END""",
    """CREATE TRIGGER plant_fts_ad AFTER DELETE ON plant_search_documents BEGIN
        INSERT INTO plant_fts(plant_fts, rowid, names, body)
        VALUES ('delete', old.plant_id, old.names, old.body);
    END""",
    """CREATE TRIGGER plant_fts_au AFTER UPDATE ON plant_search_documents BEGIN
        INSERT INTO plant_fts(plant_fts, rowid, names, body)
        VALUES ('delete', old.plant_id, old.names, old.body);
        INSERT INTO plant_fts(rowid, names, body) VALUES (new.plant_id, new.names, new.body);
    END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS plant_fts_au",
    "DROP TRIGGER IF EXISTS plant_fts_ad",
    "DROP TRIGGER IF EXISTS plant_fts_ai",
    "DROP TABLE IF EXISTS plant_fts",
]
POSTGRES_DDL = [
    """ALTER TABLE plant_search_documents ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(names, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce(body, '')), 'B')) STORED""",
    "CREATE INDEX ix_plant_search_documents_tsv ON plant_search_documents USING GIN (tsv)",
]
POSTGRES_DROP = [
    "DROP INDEX IF EXISTS ix_plant_search_documents_tsv",
    "ALTER TABLE plant_search_documents DROP COLUMN IF EXISTS tsv",
]


def create_index(connection: Connection) -> None:
    """Create the dialect's full-text index (called from the migration)."""
    ddl = SQLITE_DDL if connection.dialect.name == "sqlite" else POSTGRES_DDL
    for statement in ddl:
        connection.execute(text(statement))


def drop_index(connection: Connection) -> None:
    ddl = SQLITE_DROP if connection.dialect.name == "sqlite" else POSTGRES_DROP
    for statement in ddl:
        connection.execute(text(statement))


def tokens(query: str) -> list[str]:
    """The words of a query, lower-cased, at most MAX_TOKENS of them."""
    return [t.lower() for t in _TOKEN.findall(query)][:MAX_TOKENS]


def match_query(dialect: str, words: list[str]) -> str:
    """The backend's match expression: every word, as a prefix (so "tomat" finds "tomato")."""
    if dialect == "sqlite":
        return " ".join('"' + w.replace('"', "") + '"*' for w in words)
    return " & ".join(w.replace("'", "") + ":*" for w in words)


def matching_ids(dialect: str, words: list[str]) -> Select[tuple[int, float]]:
    """A select of ``(plant_id, relevance)``: higher relevance is a better match.

    Names weigh ten times the body on both backends.
    """
    q = match_query(dialect, words)
    if dialect == "sqlite":
        fts = table("plant_fts", column("rowid"))
        relevance: ColumnElement[float] = literal_column("-bm25(plant_fts, 10.0, 1.0)")
        return (
            select(fts.c.rowid.label("plant_id"), relevance.label("relevance"))
            .where(text("plant_fts MATCH :fts_query").bindparams(fts_query=q))
        )
    docs = table("plant_search_documents", column("plant_id"), column("tsv"))
    tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), bindparam("fts_query", q))
    return select(
        docs.c.plant_id, func.ts_rank(docs.c.tsv, tsquery, 0).label("relevance")
    ).where(docs.c.tsv.op("@@")(tsquery))
