"""The packaged starter knowledge base, as a fresh server loads it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.conftest import permapeople_headers

from hortus.accounts.keys import NewKey
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.plants.models import CommonName, ExternalId, Plant, PlantRelation, Taxon
from hortus.plants.transfer import starter_records

MODEL_SPECIES = [  # what the packaged image models predict, and the bean crop
    "Narcissus pseudonarcissus",
    "Galanthus nivalis",
    "Convallaria majalis",
    "Hyacinthoides non-scripta",
    "Crocus vernus",
    "Iris germanica",
    "Lilium lancifolium",
    "Tulipa gesneriana",
    "Fritillaria meleagris",
    "Helianthus annuus",
    "Leucanthemum vulgare",
    "Bellis perennis",
    "Tussilago farfara",
    "Taraxacum officinale",
    "Primula veris",
    "Ranunculus acris",
    "Anemone coronaria",
    "Viola × wittrockiana",
    "Rosa",
    "Phaseolus vulgaris",
]


def test_starter_records_are_complete() -> None:
    records = starter_records()
    assert len(records) >= 300
    names = [r["scientific_name"] for r in records]
    assert len(names) == len(set(names))
    assert set(MODEL_SPECIES) <= set(names)
    species = [r for r in records if r.get("type", "Plant") == "Plant"]
    for record in species:
        languages = set(record["common_names"])
        assert {"en", "fr", "de", "es"} <= languages, record["scientific_name"]
        assert record["family"] and record["genus"], record["scientific_name"]
    known = set(names)
    for record in records:
        for other in (record.get("companions") or []) + (record.get("antagonists") or []):
            assert other in known, (record["scientific_name"], other)
        if record.get("type") == "Variety":
            assert record["parent"] in known


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
