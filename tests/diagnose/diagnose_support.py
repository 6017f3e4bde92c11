"""Constants and helpers shared by the diagnosis tests."""

from __future__ import annotations

from pathlib import Path

BEAN_CLASSES = ("angular_leaf_spot", "bean_rust", "healthy")
# What each ibean folder is in the catalogue (PEAT's peat_id and EPPO code); healthy is no entry.
EXPECTED = {
    "angular_leaf_spot": {"peat_id": 100025, "eppo": "PHAIGR", "name": "Angular leaf spot of bean",
                          "scientific_name": "Pseudocercospora griseola"},
    "bean_rust": {"peat_id": 100026, "eppo": "UROMAP", "name": "Bean rust",
                  "scientific_name": "Uromyces appendiculatus"},
}
CLASSES_CSV = (
    "folder,name,crop\n"
    "angular_leaf_spot,PHAIGR,Phaseolus vulgaris\n"
    "bean_rust,UROMAP,Phaseolus vulgaris\n"
    "healthy,healthy,Phaseolus vulgaris\n"
)
TRAIN_PER_CLASS = 60
UNSEEN_FROM = 300  # photos from this index on are never trained on in the tests


def unseen_photos(shared_data: Path, label: str, count: int) -> list[Path]:
    """``count`` photos of one ibean class that the test model never saw."""
    return sorted((shared_data / "ibean" / label).iterdir())[UNSEEN_FROM:UNSEEN_FROM + count]


def predicted_label(answer: dict) -> str:
    """The class an answer names: rank 1 listed is that disease; no rank 1 means healthy."""
    top = answer["image_analysis"][0] if answer["image_analysis"] else None
    if top is None or top["rank"] != 1:
        return "healthy"
    return {v["peat_id"]: k for k, v in EXPECTED.items()}.get(top["peat_id"], "?")
