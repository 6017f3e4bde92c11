"""The answer's rules, on hand-made engine outputs (no model needed)."""

from __future__ import annotations

from hortus.diagnose.answer import big_enough, build_answer, similarity
from hortus.diagnose.catalogue_service import DiseaseRef
from hortus.diagnose.recognition import ClassScore, CropModel, CropScore, PhotoDiagnosis

BEAN = CropModel(project="bean", version="1", crop="Phaseolus vulgaris")
RUST = DiseaseRef(peat_id=100026, eppo="UROMAP", name="Bean rust",
                  scientific_name="Uromyces appendiculatus")
PIC_ID = "79937583-d368-45b9-87c1-010b55df0f5c"


def diagnosis(classes: list[ClassScore], recognized: bool = True) -> PhotoDiagnosis:
    return PhotoDiagnosis(width=640, height=480, format="JPEG",
                          objects=[("eft", 0.324), ("rule", 0.081)],
                          crops=[CropScore(model=BEAN, score=0.913, recognized=recognized)],
                          chosen=BEAN, classes=classes, recognized=recognized)


def test_answer_has_peats_fields_and_shapes():
    answer = build_answer(pic_id=PIC_ID, diseases={"UROMAP": RUST}, diagnosis=diagnosis([
        ClassScore("bean_rust", "UROMAP", 0.87), ClassScore("healthy", "healthy", 0.06),
        ClassScore("mystery", "XYZ", 0.07)]), plants={"Phaseolus vulgaris": 42},
    ).model_dump(mode="json")
    assert answer == {
        "big_enough": True, "code": 200, "healthy": 6,
        "image_analysis": [
            {"eppo": "UROMAP", "name": "Bean rust", "peat_id": 100026, "rank": 1,
             "scientific_name": "Uromyces appendiculatus", "similarity": 87},
            {"eppo": None, "name": "XYZ", "peat_id": None, "rank": 3, "scientific_name": None,
             "similarity": 7},
        ],
        "objects_net": [{"name": "eft", "rank": 1, "similarity": 32},
                        {"name": "rule", "rank": 2, "similarity": 8}],
        "pic_id": PIC_ID,
        # plant_id (Hortus extension): the knowledge-base plant of the crop's scientific name
        "plant_net": [{"name": "BEAN", "plant_id": 42, "rank": 1, "similarity": 91}],
        "recognized": "True", "recognized_bool": True,
    }


def test_healthy_first_leaves_rank_one_out():
    answer = build_answer(pic_id=PIC_ID, diseases={"UROMAP": RUST}, diagnosis=diagnosis(
        [ClassScore("healthy", "healthy", 0.9), ClassScore("bean_rust", "UROMAP", 0.1)],
        recognized=False)).model_dump(mode="json")
    assert [e["rank"] for e in answer["image_analysis"]] == [2]
    assert answer["healthy"] == 90
    assert (answer["recognized"], answer["recognized_bool"]) == ("False", False)
    assert answer["plant_net"] == []  # a crop that is not recognised is not named


def test_similarity_and_size_rules():
    assert [similarity(v) for v in (-0.2, 0.004, 0.005, 0.5, 1.7)] == [0, 0, 0, 50, 100]
    assert similarity(0.015) == 2 and similarity(0.994) == 99
    assert big_enough(224, 4000) and not big_enough(223, 4000)
