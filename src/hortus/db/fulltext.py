"""Full-text search over plant documents: SQLite FTS5 or PostgreSQL tsvector, one interface.

The documents live in ``plant_search_documents`` on both backends, in three parts: ``names``
(weighted high), ``body`` (description, taxonomy, attribute text) and ``facets`` (one opaque
token per filterable attribute value, so that facet filters are answered by the same inverted
index as the words). SQLite indexes them with an external-content FTS5 table kept in sync by
triggers; PostgreSQL with a generated ``tsvector`` column (weights A, B, D) and a GIN index.
Queries are built from word tokens only, so user input never reaches either query language as
syntax.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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
        names, body, facets, content='plant_search_documents', content_rowid='plant_id',
        tokenize='unicode61 remove_diacritics 2', prefix='2 3')""",
    """CREATE TRIGGER plant_fts_ai AFTER INSERT ON plant_search_documents BEGIN
        INSERT INTO plant_fts(rowid, names, body, facets)
        VALUES (new.plant_id, new.names, new.body, new.facets);
    END""",
    """CREATE TRIGGER plant_fts_ad AFTER DELETE ON plant_search_documents BEGIN
        INSERT INTO plant_fts(plant_fts, rowid, names, body, facets)
        VALUES ('delete', old.plant_id, old.names, old.body, old.facets);
    END""",
    """CREATE TRIGGER plant_fts_au AFTER UPDATE ON plant_search_documents BEGIN
        INSERT INTO plant_fts(plant_fts, rowid, names, body, facets)
        VALUES ('delete', old.plant_id, old.names, old.body, old.facets);
        INSERT INTO plant_fts(rowid, names, body, facets)
        VALUES (new.plant_id, new.names, new.body, new.facets);
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
        setweight(to_tsvector('simple', coalesce(body, '')), 'B') ||
        setweight(to_tsvector('simple', coalesce(facets, '')), 'D')) STORED""",
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


def facet_token(key: str, value: str) -> str:
    """The opaque token standing for "attribute ``key`` has value ``value``" (case-insensitive)."""
    digest = hashlib.blake2b(f"{key.strip().lower()}\x1f{value.strip().lower()}".encode(),
                             digest_size=8).hexdigest()
    return "fx" + digest


def facet_tokens(attributes: Iterable[tuple[str, str]]) -> list[str]:
    """Tokens for each attribute's whole value and each of its comma-separated parts, so a
    filter "Full sun" matches "Full sun, partial sun/shade"."""
    found: list[str] = []
    for key, value in attributes:
        parts = {value, *(p for p in value.split(",") if p.strip())}
        found += sorted({facet_token(key, p) for p in parts})
    return found


def match_query(dialect: str, words: Sequence[str], facets: Mapping[str, Sequence[str]]) -> str:
    """The backend's match expression: every word as a prefix in names or body (so "tomat"
    finds "tomato"), and for each facet one of its values."""
    if dialect == "sqlite":
        clauses = ["{names body}: (" + " ".join('"' + w.replace('"', "") + '"*' for w in words)
                   + ")"]
        clauses += ["{facets}: (" + " OR ".join(facet_token(k, v) for v in values) + ")"
                    for k, values in facets.items()]
        return " AND ".join(clauses)
    clauses = [w.replace("'", "").replace("\\", "") + ":*AB" for w in words]
    clauses += ["(" + " | ".join(facet_token(k, v) + ":D" for v in values) + ")"
                for k, values in facets.items()]
    return " & ".join(clauses)


def matching_ids(dialect: str, query: str) -> Select[tuple[int, float]]:
    """A select of ``(plant_id, relevance)`` for a ``match_query``: higher relevance is better.

    Names weigh ten times the body; facet tokens add nothing to relevance.
    """
    if dialect == "sqlite":
        fts = table("plant_fts", column("rowid"))
        relevance: ColumnElement[float] = literal_column("-bm25(plant_fts, 10.0, 1.0, 0.0)")
        return select(fts.c.rowid.label("plant_id"), relevance.label("relevance")).where(
            text("plant_fts MATCH :fts_query").bindparams(fts_query=query)
        )
    docs = table("plant_search_documents", column("plant_id"), column("tsv"))
    tsquery = func.to_tsquery(literal_column("'simple'::regconfig"), bindparam("fts_query", query))
    return select(
        docs.c.plant_id, func.ts_rank(docs.c.tsv, tsquery, 0).label("relevance")
    ).where(docs.c.tsv.op("@@")(tsquery))


def count_matches(dialect: str, query: str) -> Select[Any]:
    """How many documents match (answered from the index alone)."""
    inner = matching_ids(dialect, query).subquery()
    return select(func.count()).select_from(inner)
