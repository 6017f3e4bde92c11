"""Typo-tolerant search on the starter knowledge base, over real HTTP on SQLite and PostgreSQL:
the issue's misspellings find the intended plant first, in the plant browser and in the
Permapeople API; the vocabulary of names and its trigram index follow creates and updates."""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from tests.conftest import permapeople_headers

from hortus.accounts.keys import NewKey
from hortus.config import Settings
from hortus.db import Database
from hortus.db.fulltext import MIN_TERM, fold, names_text
from hortus.plants.search import allowed_typos, typo_distance

TOMATO, STRAWBERRY = "Solanum lycopersicum", "Fragaria × ananassa"
# The issue's examples: what a person types, and the plant they mean.
MISSPELT = [
    ("tomatoe", TOMATO), ("tomatos", TOMATO), ("tomates", TOMATO),
    ("fraises", STRAWBERRY), ("strawbery", STRAWBERRY),
    ("lavander", "Lavandula angustifolia"),
]
_SCIENTIFIC = re.compile(r'<p class="sci"><em>([^<]+)</em>')


@pytest.fixture
def headers(api_key: NewKey) -> dict[str, str]:
    return permapeople_headers(api_key)


def browser_results(client: TestClient, q: str) -> list[str]:
    """The scientific names the plant browser lists for ``q``, in order."""
    page = client.get("/plants", params={"q": q})
    assert page.status_code == 200, page.text
    return [html.unescape(name) for name in _SCIENTIFIC.findall(page.text)]


def api_results(client: TestClient, headers: dict[str, str], q: str) -> list[dict[str, Any]]:
    answer = client.get("/api/search", params={"q": q}, headers=headers)
    assert answer.status_code == 200, answer.text
    plants: list[dict[str, Any]] = answer.json()["plants"]
    return plants


@pytest.mark.both_databases
def test_the_issues_misspellings_find_the_plant_first(client: TestClient,
                                                      headers: dict[str, str]) -> None:
    for typed, meant in MISSPELT:
        assert browser_results(client, typed)[:1] == [meant], typed
        assert api_results(client, headers, typed)[0]["scientific_name"] == meant, typed


@pytest.mark.both_databases
def test_a_genus_lists_its_species_before_their_varieties(client: TestClient,
                                                          headers: dict[str, str]) -> None:
    for found in (browser_results(client, "Solanum"),
                  [p["scientific_name"] for p in api_results(client, headers, "Solanum")]):
        species = [n for n in found if "'" not in n]
        assert {TOMATO, "Solanum tuberosum"} <= set(species)
        assert found[:len(species)] == species, found  # every cultivar after every species
        assert len(found) > len(species)  # ... and the cultivars are listed


@pytest.mark.both_databases
def test_did_you_mean(client: TestClient) -> None:
    for typed, suggested in [("tomatoe", "tomato"), ("strawbery", "strawberry"),
                             ("lavander", "lavender"), ("tomates", "tomate"),
                             ("qqqzzzxxx", None)]:
        page = client.get("/plants", params={"q": typed}).text
        offer = re.search(r'Did you mean <a href="([^"]+)">([^<]+)</a>', page)
        if suggested is None:
            assert offer is None, typed
            continue
        assert offer and offer.group(2) == suggested, typed
        followed = client.get(offer.group(1).replace("&amp;", "&"))
        assert "Did you mean" not in followed.text
    for typed in ("tomato", "Tomate", "Solanum"):  # spelt right: nothing to suggest
        assert "Did you mean" not in client.get("/plants", params={"q": typed}).text


@pytest.mark.both_databases
def test_names_match_in_every_language_and_without_accents(client: TestClient,
                                                           headers: dict[str, str]) -> None:
    for typed, meant in [("Erdbeere", STRAWBERRY), ("pomodoro", TOMATO), ("Tomaat", TOMATO),
                         ("desiree", "Solanum tuberosum 'Désirée'"),
                         ("Désirée", "Solanum tuberosum 'Désirée'"),
                         ("Kartofel", "Solanum tuberosum")]:
        assert browser_results(client, typed)[:1] == [meant], typed
        assert api_results(client, headers, typed)[0]["scientific_name"] == meant, typed
    page = client.get("/plants", params={"q": "Erdbeere"}).text
    assert 'German: <span lang="de">Erdbeere</span>' in page


@pytest.mark.both_databases
def test_a_word_of_the_text_is_no_typo(client: TestClient, headers: dict[str, str]) -> None:
    """"nitrogen" is in descriptions: it is taken as typed, not read as "citroen"."""
    found = api_results(client, headers, "nitrogen")
    assert found and all("nitrogen" in (p["description"] + str(p["data"])).lower()
                         for p in found)


@pytest.mark.both_databases
def test_the_api_keeps_its_contract(client: TestClient, headers: dict[str, str]) -> None:
    """Typo tolerance changes which plants match, not the shape: fields, facets, paging."""
    answer = client.get("/api/search", params={"q": "tomatoe", "per_page": 2}, headers=headers)
    body = answer.json()
    assert set(body) == {"plants", "pagination"}
    assert body["pagination"]["per_page"] == 2 and body["pagination"]["total"] >= 6
    assert body["pagination"]["total_pages"] == -(-body["pagination"]["total"] // 2)
    second = client.get("/api/search", params={"q": "tomatoe", "per_page": 2, "page": 2},
                        headers=headers).json()["plants"]
    assert not {p["id"] for p in second} & {p["id"] for p in body["plants"]}
    varieties = client.get("/api/search", headers=headers,
                           params={"q": "tomatos", "type": "Variety"}).json()["plants"]
    assert varieties and all(p["type"] == "Variety" for p in varieties)
    herbs = client.post("/api/search", headers=headers,
                        json={"q": "bazil", "Layer": "Herbs"}).json()["plants"]
    assert herbs[0]["scientific_name"] == "Ocimum basilicum"
    assert all({"key": "Layer", "value": "Herbs"} in p["data"] for p in herbs)


def _vocabulary(settings: Settings) -> tuple[Counter[str], Counter[str]]:
    """The terms table as stored, and as recomputed from the documents' names."""
    database = Database(settings.sqlalchemy_url)
    try:
        with database.read() as session:
            stored = Counter({term: count for term, count in session.execute(
                text("SELECT term, documents FROM plant_name_terms"))})
            expected: Counter[str] = Counter()
            for (names,) in session.execute(text("SELECT names FROM plant_search_documents")):
                expected.update({w for w in names.lower().split()
                                 if len(w) >= MIN_TERM and re.fullmatch("[a-z]+", w)})
    finally:
        database.dispose()
    return stored, expected


@pytest.mark.both_databases
def test_the_trigram_index_follows_creates_and_updates(client: TestClient, settings: Settings,
                                                       headers: dict[str, str]) -> None:
    created = client.post("/api/plants", headers=headers, json={
        "scientific_name": "Quillaja saponaria", "name": "Soapbark tree",
        "note": "test"}).json()
    assert browser_results(client, "Quilaja")[:1] == ["Quillaja saponaria"]
    assert api_results(client, headers, "soapbrak")[0]["id"] == created["id"]
    renamed = client.put(f"/api/plants/{created['id']}", headers=headers, json={
        "version": created["version"], "note": "test", "name": "Chilean soap tree",
        "scientific_name": "Quillaja testamentia"})
    assert renamed.status_code == 200, renamed.text
    assert api_results(client, headers, "testamentya")[0]["id"] == created["id"]
    assert api_results(client, headers, "soapbrak") == []  # the old name's word is gone
    stored, expected = _vocabulary(settings)
    assert stored == expected
    assert "soapbark" not in stored and stored["testamentia"] == 1


@pytest.mark.both_databases
def test_concurrent_writers_keep_the_vocabulary_exact(settings: Settings) -> None:
    """Writers sharing name words, in opposite orders, all at once: no deadlock, no lost
    count (PostgreSQL's trigger upserts the words in one order; SQLite has one writer)."""
    from concurrent.futures import ThreadPoolExecutor

    from hortus.bootstrap import prepare_database
    from hortus.plants import service
    from hortus.plants.schemas import PlantCreate, PlantUpdate

    database = prepare_database(settings)
    words = ["Alphonsia", "Bertrandia", "Cornelia", "Dorotheana"]

    def write(n: int) -> None:
        ordered = words if n % 2 else words[::-1]
        with database.write() as session:
            plant = service.create_plant(session=session, account_id=None, payload=PlantCreate(
                scientific_name=f"{ordered[0]} {ordered[1]} {n}",  # a slug of its own
                name=f"{ordered[2]} {ordered[3]}",
                note="concurrency"))
        with database.write() as session:
            service.update_plant(session=session, plant_id=plant.id, account_id=None,
                                 changes=PlantUpdate(version=1, note="rename",
                                                     name=f"{ordered[3]} {ordered[1]}"))

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(write, range(24)))
    finally:
        database.dispose()
    stored, expected = _vocabulary(settings)
    assert stored == expected
    assert [stored[w.lower()] for w in words] == [24, 12, 12, 24]


@pytest.mark.both_databases
def test_the_migration_indexes_an_existing_knowledge_base(settings: Settings) -> None:
    """Down to the revision before 0010, documents as earlier versions wrote them (names as
    typed), then up again: names rewritten, vocabulary filled, typos found."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from hortus.db.migrate import alembic_config, upgrade

    database = Database(settings.sqlalchemy_url)
    try:
        config = alembic_config(database.engine.url.render_as_string(hide_password=False))
        before = ScriptDirectory.from_config(config).get_revision("0010").down_revision
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, str(before))
        with database.engine.begin() as connection:
            assert "plant_name_terms" not in {
                t.lower() for t in database.engine.dialect.get_table_names(connection)}
            connection.execute(text(
                "UPDATE plant_search_documents SET names = (SELECT p.scientific_name || ' ' || "
                "p.name FROM plants AS p WHERE p.id = plant_search_documents.plant_id)"))
        upgrade(database.engine)
        with database.read() as session:
            names = session.scalar(text(
                "SELECT d.names FROM plant_search_documents AS d JOIN plants AS p "
                "ON p.id = d.plant_id WHERE p.scientific_name = :name"),
                {"name": "Solanum tuberosum 'Désirée'"})
        assert names == "solanum tuberosum désirée désirée potato desiree"
    finally:
        database.dispose()
    stored, expected = _vocabulary(settings)
    assert stored == expected and stored["lycopersicum"] >= 1


def test_names_text_lowercases_and_adds_accent_free_spellings() -> None:
    assert names_text(["Solanum tuberosum 'Désirée'", "Désirée potato", "Straße"]) == (
        "solanum tuberosum désirée désirée potato straße desiree strasse")
    assert names_text([names_text(["Désirée"])]) == names_text(["Désirée"])
    assert fold("Kleines Schneeglöckchen") == "kleines schneeglockchen"


@pytest.mark.parametrize("typed, term, distance", [
    ("tomatoe", "tomato", 1), ("tomatos", "tomato", 1), ("tomates", "tomate", 1),
    ("strawbery", "strawberry", 1), ("lavander", "lavender", 1), ("basli", "basil", 1),
    ("tomates", "tomato", 2), ("lavander", "lavendel", 2), ("abcd", "wxyz", 4),
])
def test_typo_distance(typed: str, term: str, distance: int) -> None:
    assert typo_distance(typed, term, 2) == min(distance, 3)
    assert typo_distance(typed, term, 0) == (0 if distance == 0 else 1)


def test_allowed_typos_grow_with_the_word() -> None:
    assert [allowed_typos(w) for w in ("pea", "mint", "tomatoe", "lavander")] == [0, 1, 1, 2]
