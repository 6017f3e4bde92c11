"""Versioned project artifacts: round trip, activation, checksum refusal, no pickles."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hortus.vision.artifacts import (
    ArtifactError,
    ProjectArtifacts,
    activate_version,
    active_version_dir,
    find_active_projects,
    load_project,
    write_project,
)
from hortus.vision.dataset import ClassEntry
from hortus.vision.heads import fit_logistic, transform_features
from hortus.vision.index import ReferenceIndex
from hortus.vision.openset import OpenSetRule


def make_artifacts(name: str = "flowers", version: str = "") -> ProjectArtifacts:
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal((30, 8))).astype(np.float32) + np.repeat(np.eye(3, 8) * 3, 10, 0)
    y = np.repeat(np.arange(3), 10)
    features = transform_features(x)
    head = fit_logistic(features, y, 3).with_temperature(1.3)
    index = ReferenceIndex.build(
        features,
        y,
        [f"{i:064x}" for i in range(30)],
        {"author": ["Ann"] * 30, "licence": ["CC BY 4.0"] * 30},
    )
    return ProjectArtifacts(
        name=name,
        task="identify",
        version=version,
        classes=[
            ClassEntry("daisy", "Bellis perennis", {"organ": "flower"}),
            ClassEntry("rose", "Rosa"),
            ClassEntry("tulip", "Tulipa"),
        ],
        head=head,
        rule=OpenSetRule("knn", 3, 0.0, 0.42),
        index=index,
        metrics={"top1": 0.9, "per_class": {"daisy": {"top1": 1.0, "n": 2}}},
        seed=7,
        recipe={"c": 10.0},
        backbone={"name": "efficientnet-lite0", "sha256": "ab" * 32},
    )


def test_round_trip_and_activation(tmp_path):
    art = make_artifacts()
    version_dir = write_project(tmp_path, art)
    assert active_version_dir(tmp_path / "flowers") == version_dir
    manifest = json.loads((version_dir / "manifest.json").read_text())
    assert manifest["classes"] == ["daisy", "rose", "tulip"]
    assert manifest["threshold"] == pytest.approx(0.42)
    assert manifest["temperature"] == pytest.approx(1.3)
    assert set(manifest["files"]) == {"head.npz", "index.npz", "labels.json", "metrics.json"}
    loaded = load_project(version_dir)
    assert loaded.version == version_dir.name and loaded.seed == 7
    assert loaded.classes[0] == ClassEntry("daisy", "Bellis perennis", {"organ": "flower"})
    assert loaded.rule.threshold == pytest.approx(0.42)
    x = np.abs(np.random.default_rng(1).standard_normal((5, 8))).astype(np.float32)
    assert np.allclose(loaded.head.probabilities(x), art.head.probabilities(x), atol=1e-6)
    assert loaded.index.nearest(loaded.index.vectors[3], k=1)[0].licence == "CC BY 4.0"
    # A second version becomes active; the first can be re-activated.
    second = write_project(tmp_path, make_artifacts())
    assert second != version_dir and active_version_dir(tmp_path / "flowers") == second
    activate_version(tmp_path, "flowers", version_dir.name)
    assert active_version_dir(tmp_path / "flowers") == version_dir
    with pytest.raises(ArtifactError):
        activate_version(tmp_path, "flowers", "nope")


@pytest.mark.parametrize("victim", ["head.npz", "index.npz", "labels.json"])
def test_tampered_file_is_refused(tmp_path, victim):
    version_dir = write_project(tmp_path, make_artifacts())
    path = version_dir / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        load_project(version_dir)


def test_missing_file_and_pickled_head_are_refused(tmp_path):
    version_dir = write_project(tmp_path, make_artifacts())
    (version_dir / "index.npz").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_project(version_dir)
    # A head holding an object array would need unpickling: refuse it even with a valid checksum.
    other = write_project(tmp_path, make_artifacts("beans"))
    with (other / "head.npz").open("wb") as handle:
        np.savez(handle, w0=np.array([{"evil": 1}], dtype=object))
    manifest = json.loads((other / "manifest.json").read_text())
    from hortus.vision.artifacts import sha256_file

    manifest["files"]["head.npz"] = sha256_file(other / "head.npz")
    (other / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises((ArtifactError, ValueError)):
        load_project(other)


def test_bad_names_and_first_root_wins(tmp_path):
    with pytest.raises(ArtifactError):
        write_project(tmp_path, make_artifacts("../evil"))
    data_root, packaged_root = tmp_path / "data", tmp_path / "packaged"
    ours = write_project(data_root, make_artifacts("flowers"))
    write_project(packaged_root, make_artifacts("flowers"))
    theirs = write_project(packaged_root, make_artifacts("beans"))
    found = find_active_projects([data_root, packaged_root, tmp_path / "absent"])
    assert found == {"flowers": ours, "beans": theirs}
