"""The packaged starter knowledge base, as a fresh server loads it."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.conftest import permapeople_headers

from hortus.accounts.keys import NewKey
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.plants.models import CommonName, ExternalId, Plant, PlantRelation, Taxon
from hortus.plants.transfer import starter_records

REPO = Path(__file__).resolve().parents[2]
PACKAGED_CLASSES = REPO / "src" / "hortus" / "vision" / "packaged" / "classes"


def packaged_model_species() -> set[str]:
    """Every species the packaged models name: identification classes and diagnosis crops."""
    names: set[str] = set()
    for table in PACKAGED_CLASSES.glob("*.csv"):
        for row in csv.DictReader(table.open(encoding="utf-8")):
            if row.get("crop"):
                names.add(row["crop"])
            else:
                names.add(row["name"].replace(" x ", " × "))
    return names


def test_starter_records_pass_the_curators_checker() -> None:
    """tools/check_starter.py: schema, vocabularies, links, languages, counts."""
    path = REPO / "tools" / "check_starter.py"
    spec = importlib.util.spec_from_file_location("check_starter", path)
    assert spec and spec.loader
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    assert checker.main([]) == 0


def test_starter_covers_every_species_the_packaged_models_name() -> None:
    names = {r["scientific_name"] for r in starter_records()}
    wanted = packaged_model_species()
    assert {"Phaseolus vulgaris", "Helianthus annuus", "Rosa"} <= wanted
    assert wanted <= names, sorted(wanted - names)
    assert len(names) >= 300


def test_fresh_database_holds_the_starter_plants(settings: Settings) -> None:
    database = prepare_database(settings)
    with database.read() as session:
        count = session.scalar(select(func.count()).select_from(Plant))
        assert count == len(starter_records())
        tomato = session.scalar(
            select(Plant).where(Plant.scientific_name == "Solanum lycopersicum")
        )
        assert tomato is not None and tomato.family == "Solanaceae" and tomato.genus == "Solanum"
        assert tomato.authorship == "L."
        assert (
            session.scalar(
                select(Taxon.authorship).where(Taxon.rank == "family", Taxon.name == "Solanaceae")
            )
            == "Juss."
        )
        french = session.scalars(
            select(CommonName.name).where(
                CommonName.plant_id == tomato.id, CommonName.language == "fr"
            )
        ).all()
        assert "Tomate" in french
        assert (
            session.scalar(
                select(ExternalId.value).where(
                    ExternalId.plant_id == tomato.id, ExternalId.system == "eppo"
                )
            )
            == "LYPES"
        )
        links = session.scalar(select(func.count()).select_from(PlantRelation))
        assert links and links > 100
    database.dispose()


def test_companion_and_search_on_starter_data(client: TestClient, api_key: NewKey) -> None:
    headers = permapeople_headers(api_key)
    found = client.get("/api/search?q=tomato", headers=headers).json()
    tomato: dict[str, Any] = found["plants"][0]
    assert tomato["scientific_name"] == "Solanum lycopersicum"
    companions = client.get(f"/api/plants/{tomato['id']}/companions", headers=headers).json()
    names = {p["scientific_name"] for p in companions["plants"]}
    assert "Ocimum basilicum" in names
    assert "Foeniculum vulgare" not in names  # an antagonist, stored but not listed
    varieties = client.get(f"/api/plants/{tomato['id']}/varieties", headers=headers).json()
    assert varieties["pagination"]["total"] >= 1
    assert all(
        v["type"] == "Variety" and v["parent_id"] == tomato["id"] for v in varieties["plants"]
    )
    herbs = client.post(
        "/api/search", headers=headers, json={"q": "basil", "Layer": "Herbs", "type": "Plant"}
    ).json()
    assert herbs["plants"] and herbs["plants"][0]["scientific_name"] == "Ocimum basilicum"
