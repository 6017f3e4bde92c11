"""The disease catalogue: seeded on first start, linked to plants, browsable under /v1."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from hortus.diagnose.catalogue import catalogue_records, link_hosts, load_catalogue
from hortus.diagnose.catalogue_service import crop_project, resolve_classes
from hortus.diagnose.models import Disease, DiseaseHost
from hortus.diagnose.recognition import CropModel
from hortus.plants.models import Plant


@pytest.mark.both_databases
def test_catalogue_is_seeded_with_stable_ids_and_linked_hosts(database):
    records = catalogue_records()
    assert len(records) >= 60
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(Disease)) == len(records)
        rust = session.get(Disease, 100026)
        assert (rust.eppo_code, rust.name, rust.scientific_name, rust.pathogen_class) == (
            "UROMAP", "Bean rust", "Uromyces appendiculatus", "fungus")
        assert rust.symptoms and rust.organic_treatment and rust.chemical_treatment
        assert rust.prevention and {n.language for n in rust.common_names} >= {"en", "fr"}
        bean = session.scalar(select(Plant).where(Plant.scientific_name == "Phaseolus vulgaris"))
        assert [(h.scientific_name, h.plant_id) for h in rust.hosts] == [
            ("Phaseolus vulgaris", bean.id)]
        codes = session.scalars(select(Disease.eppo_code).where(Disease.eppo_code.is_not(None)))
        assert all(re.fullmatch(r"[A-Z0-9]{5,6}", c) for c in codes)
        linked = session.scalar(select(func.count()).select_from(DiseaseHost)
                                .where(DiseaseHost.plant_id.is_not(None)))
        assert linked > 0.9 * session.scalar(select(func.count()).select_from(DiseaseHost))


@pytest.mark.both_databases
def test_loading_again_adds_only_new_entries_and_keeps_edits(database):
    with database.write() as session:
        session.get(Disease, 100026).symptoms = "edited by the operator"
        assert load_catalogue(session) == 0
        extra = ({"peat_id": 999001, "eppo": None, "name": "Test blight",
                  "pathogen_class": "Fungus", "hosts": ["Phaseolus vulgaris", "Nowhere plant"],
                  "common_names": {"en": "TB"}},)
        assert load_catalogue(session, extra) == 1
    with database.read() as session:
        assert session.get(Disease, 100026).symptoms == "edited by the operator"
        added = session.get(Disease, 999001)
        assert added.pathogen_class == "fungus"
        assert [h.plant_id is not None for h in added.hosts] == [True, False]


@pytest.mark.both_databases
def test_hosts_link_to_plants_added_later(database):
    with database.write() as session:
        host = session.scalar(select(DiseaseHost).where(DiseaseHost.plant_id.is_(None)))
        session.add(Plant(scientific_name=host.scientific_name, name="New crop",
                          slug="new-crop-test"))
        session.flush()
        assert link_hosts(session) >= 1
        assert link_hosts(session) == 0
        session.refresh(host)
        assert host.plant_id is not None


@pytest.mark.both_databases
def test_model_classes_and_crops_map_onto_the_catalogue(database):
    with database.read() as session:
        mapped = resolve_classes(session=session, names=["PHAIGR", "uromap", "100027",
                                                         "Bean rust", "healthy"],
                                 crop="Phaseolus vulgaris")
        assert {k: v.peat_id for k, v in mapped.items()} == {
            "PHAIGR": 100025, "uromap": 100026, "100027": 100027, "Bean rust": 100026}
        crops = [CropModel(project="bean", version="1", crop="Phaseolus vulgaris"),
                 CropModel(project="tomato_leaves", version="1", crop=None)]
        named = {crop: crop_project(session=session, crop=crop, crops=crops) for crop in (
            "bean", "Phaseolus vulgaris", "phaseolus", "Common bean", "FRENCH BEAN",
            "Green Beans", "haricot", "Feijão", "PHSVX", "phsvx", "tomato leaves",
            "tomato", "SOLLY", "Zea mays", "", "  ")}
    assert named == {
        "bean": "bean", "Phaseolus vulgaris": "bean", "phaseolus": "bean",
        "Common bean": "bean", "FRENCH BEAN": "bean", "Green Beans": "bean",
        "haricot": "bean", "Feijão": "bean", "PHSVX": "bean", "phsvx": "bean",
        "tomato leaves": "tomato_leaves", "tomato": None, "SOLLY": None, "Zea mays": None,
        "": None, "  ": None}


@pytest.mark.both_databases
def test_diseases_are_browsable(client, api_key):
    headers = {"Api-Key": api_key.api_key}
    page = client.get("/v1/diseases", params={"per_page": 5}, headers=headers).json()
    assert page["total"] == len(catalogue_records()) and len(page["diseases"]) == 5
    ids = [d["peat_id"] for d in page["diseases"]]
    assert ids == sorted(ids)
    bean = client.get("/v1/diseases", params={"crop": "Common bean", "per_page": 100},
                      headers=headers).json()
    assert {100025, 100026} <= {d["peat_id"] for d in bean["diseases"]}
    assert all(any(h["scientific_name"] == "Phaseolus vulgaris" for h in d["hosts"])
               for d in bean["diseases"])
    viruses = client.get("/v1/diseases", params={"pathogen_class": "virus", "per_page": 100},
                         headers=headers).json()
    assert viruses["total"] > 0 and {d["pathogen_class"] for d in viruses["diseases"]} == {"virus"}
    found = client.get("/v1/diseases", params={"q": "rouille du haricot"}, headers=headers).json()
    assert [d["peat_id"] for d in found["diseases"]] == [100026]
    by_code = client.get("/v1/diseases", params={"eppo": "phaigr"}, headers=headers).json()
    assert [d["name"] for d in by_code["diseases"]] == ["Angular leaf spot of bean"]
    one = client.get("/v1/diseases/100026", headers=headers)
    assert one.status_code == 200 and one.json()["common_names"]["fr"] == "Rouille du haricot"


@pytest.mark.both_databases
def test_browsing_errors_are_peat_json(client, api_key):
    headers = {"Api-Key": api_key.api_key}
    assert client.get("/v1/diseases").json() == {"message": "No valid Api-Key provided.",
                                                 "code": 401}
    for url, status in (("/v1/diseases/5", 404), ("/v1/diseases/abc", 400),
                        ("/v1/diseases?per_page=0", 400), ("/v1/diseases?page=-1", 400),
                        ("/v1/nothing", 404)):
        response = client.get(url, headers=headers)
        assert response.status_code == status, url
        assert response.json()["code"] == status and response.json()["message"]
