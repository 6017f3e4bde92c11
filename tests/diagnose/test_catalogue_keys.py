"""Stable catalogue keys, the packaged class files that name them, and host linking.

Every test reads the real packaged catalogue and class files, against a database seeded with
the real starter knowledge base and catalogue (the project-wide ``database`` fixture).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.diagnose import schemas
from hortus.diagnose.catalogue import (
    KEY_PATTERN,
    catalogue_keys,
    catalogue_records,
    group_keys,
    link_hosts,
)
from hortus.diagnose.catalogue.hosts import host_name_key
from hortus.diagnose.catalogue_service import (
    crop_project,
    hosts_crop,
    list_diseases,
    resolve_classes,
)
from hortus.diagnose.models import Disease, DiseaseHost
from hortus.diagnose.recognition import CropModel
from hortus.plants.models import Plant

CLASSES_DIR = (Path(__file__).resolve().parents[2] / "src" / "hortus" / "vision" / "packaged"
               / "classes")
NEW_PROJECTS = ("tomato", "potato", "apple", "grape", "corn", "pepper", "cherry", "strawberry",
                "citrus", "blueberry", "raspberry", "coffee", "blackgram", "chilli")
BRASSICA_CROPS = ("Cabbage", "Broccoli", "Cauliflower", "Kale", "Brussels sprouts", "Kohlrabi")


def class_rows(project: str) -> list[dict[str, str]]:
    with (CLASSES_DIR / f"{project}.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def listed(session: Session, crop: str) -> set[int]:
    """The peat_ids ``GET /v1/diseases?crop=...`` lists (first 100)."""
    query = schemas.DiseaseQuery.model_validate({"crop": crop, "per_page": 100})
    return {d.peat_id for d in list_diseases(session=session, query=query).diseases}


def diagnosis_projects() -> list[str]:
    """Every packaged class file that names a crop (the diagnosis models)."""
    return sorted(p.stem for p in CLASSES_DIR.glob("*.csv") if "crop" in class_rows(p.stem)[0])


def test_every_record_has_a_unique_well_formed_key():
    records = catalogue_records()
    keys = [r.get("key") for r in records]
    assert all(isinstance(k, str) and KEY_PATTERN.fullmatch(k) and len(k) <= 60 for k in keys)
    assert len(set(keys)) == len(keys) == len(records)
    assert len({r["peat_id"] for r in records}) == len(records)
    assert catalogue_keys()["late-blight-potato-tomato"] == 100001
    assert catalogue_keys()["bean-rust"] == 100026
    assert len(records) >= 200


def test_group_entries_say_they_are_groups():
    records = {r["key"]: r for r in catalogue_records()}
    assert {"mites-thrips-chilli", "nutrient-deficiency"} <= group_keys()
    assert records["mites-thrips-chilli"]["pathogen_class"] == "pest"
    assert records["nutrient-deficiency"]["pathogen_class"] == "deficiency"
    for key in group_keys():
        record = records[key]
        assert record["group"] is True and record["scientific_name"] is None, key
        assert "group" in record["symptoms"].lower(), key
    assert "Polyphagotarsonemus latus" in records["mites-thrips-chilli"]["symptoms"]


def test_the_class_files_cover_the_fifteen_crops():
    assert set(NEW_PROJECTS) | {"bean"} == set(diagnosis_projects())
    for project in NEW_PROJECTS:
        rows = class_rows(project)
        assert list(rows[0]) == ["folder", "name", "pathogen", "crop", "crop_eppo"], project
        assert sum(r["name"] == "healthy" for r in rows) == 1, project
        assert len({r["crop"] for r in rows}) == 1 and len({r["crop_eppo"] for r in rows}) == 1
        assert all(r["name"] == "healthy" or r["name"] in catalogue_keys() for r in rows), project
    chilli = {r["folder"]: r["name"] for r in class_rows("chilli")}
    assert {chilli["mites_and_thrips"], chilli["nutritional_deficiency"]} <= group_keys()


@pytest.mark.parametrize("project", diagnosis_projects())
def test_every_class_name_resolves_to_an_entry_hosting_the_crop(database, project):
    rows = class_rows(project)
    crop = rows[0]["crop"]
    names = [r["name"] for r in rows]
    with database.read() as session:
        mapped = resolve_classes(session=session, names=names, crop=crop)
        assert set(mapped) == {n for n in names if n != "healthy"}, project
        for name, ref in mapped.items():
            disease = session.get(Disease, ref.peat_id)
            assert disease is not None and hosts_crop(disease, crop), (project, name)
            if name in catalogue_keys():
                assert ref.peat_id == catalogue_keys()[name]


@pytest.mark.both_databases
def test_the_bean_model_names_eppo_codes_that_still_resolve(database):
    rows = class_rows("bean")
    assert [r["name"] for r in rows] == ["PHAIGR", "UROMAP", "healthy"]
    with database.read() as session:
        mapped = resolve_classes(session=session, names=[r["name"] for r in rows],
                                 crop=rows[0]["crop"])
    assert {k: v.peat_id for k, v in mapped.items()} == {"PHAIGR": 100025, "UROMAP": 100026}


@pytest.mark.both_databases
def test_a_key_resolves_without_an_eppo_code_and_before_names(database):
    with database.write() as session:
        session.get(Disease, 100026).eppo_code = None  # an operator removes the code
        session.get(Disease, 100001).name = "bean-rust"  # ... and names another entry so
    with database.read() as session:
        mapped = resolve_classes(session=session, names=["bean-rust", "UROMAP", "Bean rust"],
                                 crop="Phaseolus vulgaris")
    assert mapped["bean-rust"].peat_id == 100026 and mapped["bean-rust"].eppo is None
    assert "UROMAP" not in mapped
    assert mapped["Bean rust"].peat_id == 100026


def test_host_names_are_compared_without_hybrid_signs():
    forms = {"Citrus sinensis", "Citrus × sinensis", "Citrus x sinensis", "citrus  ×sinensis",
             "CITRUS X SINENSIS"}
    assert {host_name_key(f) for f in forms} == {"citrus sinensis"}
    assert host_name_key("× Triticosecale rimpaui") == "triticosecale rimpaui"
    assert host_name_key("Xanthosoma sagittifolium") == "xanthosoma sagittifolium"


@pytest.mark.both_databases
def test_hybrid_and_infraspecific_hosts_link_to_the_knowledge_base(database):
    with database.read() as session:
        def plant_id(name: str) -> int:
            found = session.scalar(select(Plant.id).where(Plant.scientific_name == name))
            assert found is not None, name
            return found

        def host(disease_id: int, name: str) -> DiseaseHost:
            row = session.scalar(select(DiseaseHost).where(
                DiseaseHost.disease_id == disease_id, DiseaseHost.scientific_name == name))
            assert row is not None, (disease_id, name)
            return row

        assert host(100065, "Citrus sinensis").plant_id == plant_id("Citrus × sinensis")
        assert host(100065, "Citrus × paradisi").plant_id == plant_id("Citrus × paradisi")
        assert host(100035, "Triticum durum").plant_id == plant_id(
            "Triticum turgidum subsp. durum")
        assert {100065, 100066, 100068} <= listed(session, "Citrus x sinensis")
        assert 100035 in listed(session, "Durum wheat")
        crops = [CropModel(project="citrus", version="1", crop="Citrus × sinensis"),
                 CropModel(project="bean", version="1", crop="Phaseolus vulgaris")]
        for header in ("Citrus sinensis", "citrus x sinensis", "Sweet orange", "CIDSI"):
            assert crop_project(session=session, crop=header, crops=crops) == "citrus", header


@pytest.mark.both_databases
def test_brassica_oleracea_problems_reach_its_crops(database):
    with database.read() as session:
        crops = {name: session.scalar(select(Plant).where(Plant.name == name))
                 for name in BRASSICA_CROPS}
        assert all(p is not None and p.scientific_name.startswith("Brassica oleracea ")
                   for p in crops.values())
        clubroot = session.get(Disease, 100095)
        linked = {h.plant_id for h in clubroot.hosts}
        assert {p.id for p in crops.values() if p is not None} <= linked
        assert [h.scientific_name for h in clubroot.hosts][:3] == [
            "Brassica oleracea", "Brassica napus", "Brassica rapa"]  # the catalogue's own first
        for name in BRASSICA_CROPS:
            found = listed(session, name)
            assert {100095, 100099, 100101, 100108} <= found, name  # clubroot, moths, N
            assert 100001 not in found, name  # late blight is no brassica problem
        assert hosts_crop(clubroot, "Brassica oleracea var. italica")
        assert not hosts_crop(session.get(Disease, 100001), "Brassica oleracea var. italica")


@pytest.mark.both_databases
def test_a_crop_form_imported_later_gets_its_species_problems(database):
    with database.write() as session:
        session.add(Plant(scientific_name="Brassica oleracea var. alboglabra",
                          name="Chinese kale", slug="chinese-kale-test"))
        session.flush()
        added = link_hosts(session)
        assert added >= 10  # one row per Brassica oleracea problem
        assert link_hosts(session) == 0
    with database.read() as session:
        assert 100095 in listed(session, "Chinese kale")


def test_crop_filter_normalises_names_on_every_database(any_settings: Settings):
    database = prepare_database(any_settings, seed=True)
    try:
        with database.read() as session:
            for crop in ("Citrus sinensis", "citrus × sinensis", "Citrus x sinensis"):
                assert 100065 in listed(session, crop), crop
            assert 100095 in listed(session, "Brassica oleracea var. sabellica")
    finally:
        database.dispose()
