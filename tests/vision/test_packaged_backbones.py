"""Backbones tuned by ``hortus backbone tune`` and shipped inside Hortus
(``src/hortus/vision/packaged/backbones``): built without PyTorch by the Lite0 ONNX builder,
they embed their card's check photo as recorded at export, and a bare ``HORTUS_BACKBONE`` name
chooses one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hortus.config import Settings
from hortus.vision.backbone import Backbone, prepare_backbone
from hortus.vision.backbone.manifest import read_manifest, sha256_file
from hortus.vision.backbone.prepare import (
    packaged_backbone_names,
    prepare_packaged_backbone,
    read_packaged_state,
)
from hortus.vision.decode import decode_image
from hortus.vision.engine import resolve_backbone_dir

SHARED_SETS = ("oxford17", "flowers5", "ibean")


def test_a_packaged_backbone_is_shipped() -> None:
    assert "efficientnet-lite0-plants" in packaged_backbone_names()


@pytest.mark.parametrize("name", packaged_backbone_names())
def test_packaged_backbone_builds_and_embeds_its_check_photo(
        name: str, tmp_path: Path, shared_data: Path, shared_models_dir: Path) -> None:
    state, card = read_packaged_state(name)
    assert all(v.dtype == np.float32 for v in state.values() if v.dtype.kind == "f")
    built = prepare_packaged_backbone(tmp_path, name)
    manifest = read_manifest(built)
    assert manifest.name == name and manifest.sha256 == sha256_file(built / "model.onnx")
    assert (manifest.input_size, manifest.embedding_size) == (224, 1280)
    assert "Fine-tuned by Hortus" in (manifest.source or "")
    assert prepare_packaged_backbone(tmp_path, name) == built  # ready: kept as it is
    set_name, label, file = card["check"]["photo"].split("/")
    if set_name not in SHARED_SETS:
        pytest.skip(f"the check photo is in the fetched set {set_name}")
    photo = decode_image((shared_data / set_name / label / file).read_bytes())
    tuned = Backbone.load(built, threads=1).embed([photo])
    np.testing.assert_allclose(tuned.embeddings[0][:16], card["check"]["embedding_head"],
                               atol=1e-3)
    lite0 = Backbone.load(prepare_backbone(shared_models_dir), threads=1).embed([photo])
    assert np.abs(lite0.embeddings[0] - tuned.embeddings[0]).max() > 0.1  # other weights


def test_a_bare_name_chooses_the_packaged_backbone(tmp_path: Path) -> None:
    name = "efficientnet-lite0-plants"
    settings = Settings(data_dir=tmp_path, backbone=name, environment="test")
    chosen = resolve_backbone_dir(settings.models_dir, settings.backbone_dir)
    assert chosen == settings.models_dir / "backbones" / name
    assert read_manifest(chosen).name == name
    with pytest.raises(Exception, match="no packaged backbone"):
        read_packaged_state("efficientnet-lite9")
