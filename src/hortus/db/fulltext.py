"""Full-text search over plant documents: SQLite FTS5 or PostgreSQL tsvector, one interface.

The documents live in ``plant_search_documents`` on both backends, in three parts: ``names``
(weighted high), ``body`` (description, taxonomy, attribute text) and ``facets`` (one opaque
token per filterable attribute value, so that facet filters are answered by the same inverted
index as the words). SQLite indexes them with an external-content FTS5 table kept in sync by
triggers; PostgreSQL with a generated ``tsvector`` column (weights A, B, D) and a GIN index.
Queries are built from word tokens only, so user input never reaches either query language as
syntax.

Typo tolerance uses each database's own trigram matching over the vocabulary of plant names
(the PostgreSQL documentation's recipe for spelling suggestions beside full-text search):
``plant_name_terms`` holds every distinct name word of four letters a-z or more (accents
removed, see :func:`names_text`) and how many documents use it, kept exact by triggers on the
documents on both backends, whoever writes them. Its trigram index is an FTS5 table with the
``trigram`` tokenizer on SQLite and a ``gin_trgm_ops`` index (``pg_trgm``) on PostgreSQL;
:func:`similar_terms` asks it for the words that look like a misspelt one, and the search adds
the close ones as alternatives (see :mod:`hortus.plants.search`).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

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
from sqlalchemy.orm import Session

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


def _run_ddl(connection: Connection, sqlite: Sequence[str], postgres: Sequence[str]) -> None:
    """Run the statements of the connection's dialect, in order."""
    for statement in sqlite if connection.dialect.name == "sqlite" else postgres:
        connection.execute(text(statement))


def create_index(connection: Connection) -> None:
    """Create the dialect's full-text index (called from the migration)."""
    _run_ddl(connection, SQLITE_DDL, POSTGRES_DDL)


def drop_index(connection: Connection) -> None:
    _run_ddl(connection, SQLITE_DROP, POSTGRES_DROP)


# -- the vocabulary of plant names and its trigram index ----------------------------------------

MIN_TERM = 4  # shorter words get no typo tolerance, so the vocabulary leaves them out

# The distinct terms of a ``names`` text, as a subquery over one column (``{names}``): split at
# spaces, lower-cased, only words of MIN_TERM letters a-z. SQLite has no string splitting in
# SQL; a JSON array built by replacing the spaces splits it (a text that is no valid JSON, such
# as one with a double quote, which names_text never writes, yields no terms rather than an
# error).
_SQLITE_WORDS = """'["' || replace(lower({names}), ' ', '","') || '"]'"""
_SQLITE_TERMS = (
    "SELECT DISTINCT value AS term FROM json_each(CASE WHEN json_valid({words}) THEN {words} "
    f"ELSE '[]' END) WHERE length(value) >= {MIN_TERM} AND value NOT GLOB '*[^a-z]*'"
)


def _sqlite_terms(names: str) -> str:
    words = _SQLITE_WORDS.format(names=names)
    return _SQLITE_TERMS.format(words=words)


_SQLITE_ADD = ("INSERT INTO plant_name_terms(term, documents) SELECT term, 1 FROM ({terms}) "
               "WHERE true ON CONFLICT(term) DO UPDATE SET documents = documents + 1;")
_SQLITE_REMOVE = ("UPDATE plant_name_terms SET documents = documents - 1 WHERE term IN ({terms});"
                  "DELETE FROM plant_name_terms WHERE documents <= 0 AND term IN ({terms});")
_OLD, _NEW = _sqlite_terms("old.names"), _sqlite_terms("new.names")

SQLITE_FUZZY_DDL = [
    """CREATE TABLE plant_name_terms (
        id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE, documents INTEGER NOT NULL)""",
    # Each term padded with spaces, so that its first and last letters make trigrams too
    # (" to", "to ") and a typo in a short word still leaves some in common.
    """CREATE VIRTUAL TABLE plant_term_trigrams USING fts5(term, content='',
        tokenize='trigram')""",
    """CREATE TRIGGER plant_term_trigrams_ai AFTER INSERT ON plant_name_terms BEGIN
        INSERT INTO plant_term_trigrams(rowid, term) VALUES (new.id, ' ' || new.term || ' ');
    END""",
    """CREATE TRIGGER plant_term_trigrams_ad AFTER DELETE ON plant_name_terms BEGIN
        INSERT INTO plant_term_trigrams(plant_term_trigrams, rowid, term)
        VALUES ('delete', old.id, ' ' || old.term || ' ');
    END""",
    f"""CREATE TRIGGER plant_name_terms_ai AFTER INSERT ON plant_search_documents BEGIN
        {_SQLITE_ADD.format(terms=_NEW)}
    END""",
    f"""CREATE TRIGGER plant_name_terms_ad AFTER DELETE ON plant_search_documents BEGIN
        {_SQLITE_REMOVE.format(terms=_OLD)}
    END""",
    f"""CREATE TRIGGER plant_name_terms_au AFTER UPDATE OF names ON plant_search_documents BEGIN
        {_SQLITE_REMOVE.format(terms=f"{_OLD} EXCEPT {_NEW}")}
        {_SQLITE_ADD.format(terms=f"{_NEW} EXCEPT {_OLD}")}
    END""",
    f"""INSERT INTO plant_name_terms(term, documents)
        SELECT j.value, count(DISTINCT d.plant_id) FROM plant_search_documents AS d,
            json_each(CASE WHEN json_valid({_SQLITE_WORDS.format(names="d.names")})
                      THEN {_SQLITE_WORDS.format(names="d.names")} ELSE '[]' END) AS j
        WHERE length(j.value) >= {MIN_TERM} AND j.value NOT GLOB '*[^a-z]*'
        GROUP BY j.value""",
]
SQLITE_FUZZY_DROP = [
    "DROP TRIGGER IF EXISTS plant_name_terms_au",
    "DROP TRIGGER IF EXISTS plant_name_terms_ad",
    "DROP TRIGGER IF EXISTS plant_name_terms_ai",
    "DROP TRIGGER IF EXISTS plant_term_trigrams_ad",
    "DROP TRIGGER IF EXISTS plant_term_trigrams_ai",
    "DROP TABLE IF EXISTS plant_term_trigrams",
    "DROP TABLE IF EXISTS plant_name_terms",
]


def _postgres_terms(names: str) -> str:
    return (f"ARRAY(SELECT DISTINCT w FROM regexp_split_to_table(lower({names}), '\\s+') AS w "
            f"WHERE w ~ '^[a-z]{{{MIN_TERM},}}$' ORDER BY w)")


POSTGRES_EXTENSIONS = ("pg_trgm",)  # what the schema needs (backups name them: ops/backup.py)
POSTGRES_FUZZY_DDL = [
    # Trusted since PostgreSQL 13: a database owner may create it (docs/web-plants.md).
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE TABLE plant_name_terms (
        term text PRIMARY KEY, documents integer NOT NULL)""",
    "CREATE INDEX ix_plant_name_terms_trgm ON plant_name_terms USING GIN (term gin_trgm_ops)",
    # One upsert of the terms that come and go, in term order: concurrent writers lock the
    # rows they share in the same order, so they queue instead of deadlocking.
    f"""CREATE FUNCTION plant_name_terms_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        gone text[] := '{{}}';
        came text[] := '{{}}';
    BEGIN
        IF TG_OP <> 'INSERT' THEN gone := {_postgres_terms("OLD.names")}; END IF;
        IF TG_OP <> 'DELETE' THEN came := {_postgres_terms("NEW.names")}; END IF;
        INSERT INTO plant_name_terms AS t (term, documents)
            SELECT term, sum(delta) FROM (
                SELECT unnest(came) AS term, 1 AS delta
                UNION ALL SELECT unnest(gone), -1) AS change
            GROUP BY term HAVING sum(delta) <> 0 ORDER BY term
            ON CONFLICT (term) DO UPDATE SET documents = t.documents + excluded.documents;
        DELETE FROM plant_name_terms WHERE term = ANY(gone) AND documents <= 0;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER plant_name_terms_sync
        AFTER INSERT OR DELETE OR UPDATE OF names ON plant_search_documents
        FOR EACH ROW EXECUTE FUNCTION plant_name_terms_sync()""",
    f"""INSERT INTO plant_name_terms (term, documents)
        SELECT w, count(DISTINCT d.plant_id) FROM plant_search_documents AS d,
            regexp_split_to_table(lower(d.names), '\\s+') AS w
        WHERE w ~ '^[a-z]{{{MIN_TERM},}}$' GROUP BY w""",
]
POSTGRES_FUZZY_DROP = [
    "DROP TRIGGER IF EXISTS plant_name_terms_sync ON plant_search_documents",
    "DROP FUNCTION IF EXISTS plant_name_terms_sync()",
    "DROP TABLE IF EXISTS plant_name_terms",
    # pg_trgm stays: other objects of the database may use it.
]


def create_fuzzy_index(connection: Connection) -> None:
    """Rewrite every document's names as :func:`names_text` does, then create the vocabulary
    of name terms, its trigram index and the triggers that keep both in step (migration 0010).
    """
    documents = table("plant_search_documents", column("plant_id"), column("names"))
    last = 0
    while True:  # in batches: the document texts of a large database need not fit in memory
        rows = connection.execute(
            select(documents.c.plant_id, documents.c.names).where(documents.c.plant_id > last)
            .order_by(documents.c.plant_id).limit(2000)).all()
        if not rows:
            break
        for plant_id, names in rows:
            rewritten = names_text([names or ""])
            if rewritten != names:
                connection.execute(documents.update().where(documents.c.plant_id == plant_id)
                                   .values(names=rewritten))
        last = rows[-1][0]
    _run_ddl(connection, SQLITE_FUZZY_DDL, POSTGRES_FUZZY_DDL)


def drop_fuzzy_index(connection: Connection) -> None:
    _run_ddl(connection, SQLITE_FUZZY_DROP, POSTGRES_FUZZY_DROP)


_TERMS = table("plant_name_terms", column("term"), column("documents"))


def known_terms(session: Session, words: Iterable[str]) -> set[str]:
    """Which of ``words`` are terms of some plant's names."""
    wanted = sorted(set(words))
    if not wanted:
        return set()
    return set(session.scalars(select(_TERMS.c.term).where(_TERMS.c.term.in_(wanted))))


def similar_terms(session: Session, word: str, limit: int) -> list[tuple[str, int]]:
    """Up to ``limit`` name terms sharing the most trigrams with ``word`` (folded, a-z), with
    how many documents use each: candidates for a typo, to be checked by edit distance."""
    word = "".join(_safe([word]))
    if len(word) < MIN_TERM - 1:
        return []
    if session.get_bind().dialect.name == "sqlite":
        padded = f" {word} "
        trigrams = sorted({padded[i:i + 3] for i in range(len(padded) - 2)})
        query = " OR ".join(f'"{t}"' for t in trigrams)
        best = text("SELECT rowid AS id FROM plant_term_trigrams WHERE plant_term_trigrams "
                    "MATCH :trigrams ORDER BY rank LIMIT :limit").bindparams(
            trigrams=query, limit=limit).columns(column("id")).subquery("best")
        terms = table("plant_name_terms", column("id"), column("term"), column("documents"))
        rows = session.execute(select(terms.c.term, terms.c.documents)
                               .join(best, best.c.id == terms.c.id))
        return [(term, documents) for term, documents in rows]
    # pg_trgm's default threshold (0.3) misses one typo in a short word ("mimt": 0.25).
    session.execute(select(func.set_config("pg_trgm.similarity_threshold", "0.2", True)))
    similarity = func.similarity(_TERMS.c.term, word)
    rows = session.execute(
        select(_TERMS.c.term, _TERMS.c.documents).where(_TERMS.c.term.op("%")(word))
        .order_by(similarity.desc(), _TERMS.c.documents.desc()).limit(limit))
    return [(term, documents) for term, documents in rows]


def has_word(session: Session, word: str) -> bool:
    """Whether some document has ``word`` itself (not as a prefix) in its names or body: a
    word of the text is no typo even when no name has it ("nitrogen")."""
    word = "".join(_safe([word]))
    if not word:
        return False
    dialect = session.get_bind().dialect.name
    probe: Select[Any]
    if dialect == "sqlite":
        probe = select(literal_column("rowid")).select_from(table("plant_fts")).where(
            _sqlite_match(f'{{names body}}: "{word}"'))
    else:
        docs = table("plant_search_documents", column("plant_id"), column("tsv"))
        probe = select(docs.c.plant_id).where(docs.c.tsv.op("@@")(_tsquery(f"{word}:AB")))
    return session.scalar(probe.limit(1)) is not None


# -- documents and queries ----------------------------------------------------------------------


def tokens(query: str) -> list[str]:
    """The words of a query, lower-cased, at most MAX_TOKENS of them."""
    return [t.lower() for t in _TOKEN.findall(query)][:MAX_TOKENS]


def fold(word: str) -> str:
    """``word`` lower-cased without accents: ``Désirée`` → ``desiree``, ``Straße`` →
    ``strasse``."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def names_text(names: Iterable[str]) -> str:
    """The ``names`` part of a search document: the words of every name, lower-case and
    separated by single spaces, then the accent-free spelling of each word that has accents.

    Both backends then match a name typed with or without its accents (PostgreSQL's
    ``simple`` configuration keeps accents), and the vocabulary triggers split on spaces."""
    words = [w.lower() for name in names for w in _TOKEN.findall(name)]
    present = set(words)
    extra: list[str] = []
    for word in words:
        plain = fold(word)
        if plain not in present:
            present.add(plain)
            extra.append(plain)
    return " ".join(words + extra)


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


@dataclass(frozen=True)
class SearchWord:
    """One word of a search: its spellings (as typed, lower-case, and without accents when it
    has some), each matching as a prefix, and the name terms a typo away from it."""

    spellings: tuple[str, ...]
    corrections: tuple[str, ...] = ()


Scope = Literal["text", "names", "names_or_typos"]


def match_query(dialect: str, words: Sequence[SearchWord],
                facets: Mapping[str, Sequence[str]], *, scope: Scope = "text") -> str:
    """The backend's match expression, every word being required:

    * ``text``: a spelling as a prefix in the names or the body, or a correction in the names
      (so "tomat" finds "tomato", and "tomatos" finds it through the correction "tomato");
    * ``names``: a spelling as a prefix in the names;
    * ``names_or_typos``: a spelling as a prefix, or a correction, in the names;

    and for each facet one of its values.
    """
    if dialect == "sqlite":
        clauses = []
        for word in words:
            spelt = " OR ".join(f'"{s}"*' for s in _safe(word.spellings))
            fixed = " OR ".join(f'"{c}"' for c in _safe(word.corrections))
            if scope == "names":
                clauses.append(f"{{names}}: ({spelt})")
            elif scope == "names_or_typos":
                clauses.append(f"{{names}}: ({spelt}{' OR ' + fixed if fixed else ''})")
            else:
                typos = f" OR {{names}}: ({fixed})" if fixed else ""
                clauses.append(f"({{names body}}: ({spelt}){typos})")
        clauses += ["{facets}: (" + " OR ".join(facet_token(k, v) for v in values) + ")"
                    for k, values in facets.items()]
        return " AND ".join(clauses)
    weights = "A" if scope != "text" else "AB"
    clauses = []
    for word in words:
        options = [f"{s}:*{weights}" for s in _safe(word.spellings)]
        if scope != "names":
            options += [f"{c}:A" for c in _safe(word.corrections)]
        clauses.append("(" + " | ".join(options) + ")")
    clauses += ["(" + " | ".join(facet_token(k, v) + ":D" for v in values) + ")"
                for k, values in facets.items()]
    return " & ".join(clauses)


def _safe(words: Iterable[str]) -> list[str]:
    """Words without the characters either query language would read as syntax (tokens are
    ``\\w+`` already; this keeps it so whatever the caller passes)."""
    return [w for w in (re.sub(r"[\"'\\:&|!()*<>]", "", w) for w in words) if w]


def matching_ids(dialect: str, query: str) -> Select[tuple[int, float]]:
    """A select of ``(plant_id, relevance)`` for a ``match_query``: higher relevance is better.

    Names weigh ten times the body; facet tokens add nothing to relevance.
    """
    if dialect == "sqlite":
        fts = table("plant_fts", column("rowid"))
        relevance: ColumnElement[float] = literal_column("-bm25(plant_fts, 10.0, 1.0, 0.0)")
        return select(fts.c.rowid.label("plant_id"), relevance.label("relevance")).where(
            _sqlite_match(query))
    docs = table("plant_search_documents", column("plant_id"), column("tsv"))
    tsquery = _tsquery(query)
    return select(
        docs.c.plant_id, func.ts_rank(docs.c.tsv, tsquery, 0).label("relevance")
    ).where(docs.c.tsv.op("@@")(tsquery))


def matched_by(dialect: str, query: str, plant_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """Whether the document of ``plant_id`` matches ``query`` (for ordering by tiers)."""
    if dialect == "sqlite":
        fts = table("plant_fts", column("rowid"))
        return plant_id.in_(select(fts.c.rowid).where(_sqlite_match(query)))
    docs = table("plant_search_documents", column("plant_id"), column("tsv"))
    return plant_id.in_(select(docs.c.plant_id).where(docs.c.tsv.op("@@")(_tsquery(query))))


def _sqlite_match(query: str) -> ColumnElement[bool]:
    return literal_column("plant_fts").op("MATCH")(bindparam(None, query))


def _tsquery(query: str) -> ColumnElement[Any]:
    return func.to_tsquery(literal_column("'simple'::regconfig"), bindparam(None, query))


def count_matches(dialect: str, query: str) -> Select[Any]:
    """How many documents match (answered from the index alone, no relevance computed)."""
    if dialect == "sqlite":
        return select(func.count()).select_from(table("plant_fts")).where(_sqlite_match(query))
    docs = table("plant_search_documents", column("tsv"))
    return select(func.count()).select_from(docs).where(docs.c.tsv.op("@@")(_tsquery(query)))
