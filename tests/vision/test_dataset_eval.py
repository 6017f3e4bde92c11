"""Photo folders with CSV side files, metrics with known values, confusion PNG, media paths."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hortus.vision.dataset import (
    DatasetError,
    PhotoCredit,
    merge_photo_folders,
    scan_photo_folder,
)
from hortus.vision.evaluation import (
    classification_metrics,
    confidence_sets,
    render_confusion_png,
    summarise_folds,
)
from hortus.vision.media import reference_media_path, write_reference_media


def make_folder(root, classes=("rust", "healthy"), n=2):
    for label in classes:
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (40, 30), (i * 50, 100, 0)).save(root / label / f"{label}{i}.jpg")
    (root / "notes.txt").write_text("ignored")
    (root / classes[0] / "readme.md").write_text("ignored")
    return root


def test_scan_with_classes_and_credits(tmp_path):
    root = make_folder(tmp_path / "beans")
    (root / "classes.csv").write_text("folder,name,crop\nrust,UROMAP,Phaseolus vulgaris\n")
    (root / "photos.csv").write_text(
        "file,author,licence\nrust/rust0.jpg,Ann,CC BY 4.0\nhealthy1.jpg,Bob,\n"
    )
    folder = scan_photo_folder(root, defaults=PhotoCredit(licence="MIT", organ="leaf"))
    assert folder.labels == ["healthy", "rust"]
    assert folder.classes[1].name == "UROMAP" and folder.classes[1].extra == {
        "crop": "Phaseolus vulgaris"
    }
    assert folder.classes[0].name == "healthy"
    assert len(folder.photos) == 4 and folder.label_indices() == [0, 0, 1, 1]
    credits = {p.path.name: p.credit for p in folder.photos}
    assert credits["rust0.jpg"] == PhotoCredit("Ann", "CC BY 4.0", None, None, "leaf")
    assert credits["healthy1.jpg"] == PhotoCredit("Bob", "MIT", None, None, "leaf")
    assert credits["rust1.jpg"].author is None and credits["rust1.jpg"].licence == "MIT"
    only = scan_photo_folder(root, only_classes=["rust"])
    assert only.labels == ["rust"]


def test_bad_folders_and_csvs_are_refused(tmp_path):
    with pytest.raises(DatasetError):
        scan_photo_folder(tmp_path / "absent")
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DatasetError):
        scan_photo_folder(tmp_path / "empty")
    root = make_folder(tmp_path / "x")
    (root / "classes.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError):
        scan_photo_folder(root)


def test_merge_by_folder_name(tmp_path):
    a = scan_photo_folder(make_folder(tmp_path / "a", ("daisy", "tulip")))
    b = scan_photo_folder(make_folder(tmp_path / "b", ("rose", "daisy"), n=3))
    merged = merge_photo_folders([a, b])
    assert merged.labels == ["daisy", "rose", "tulip"]
    assert len(merged.photos) == 10
    assert merged.label_indices().count(0) == 5


def test_metrics_known_values():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.05, 0.05, 0.9]])
    labels = np.array([0, 2, 0, 2])
    m = classification_metrics(probs, labels, ["a", "b", "c"])
    assert m["top1"] == pytest.approx(0.5)
    assert m["top5"] == pytest.approx(1.0)
    assert m["per_class"] == {"a": {"top1": 0.5, "n": 2}, "c": {"top1": 0.5, "n": 2}}
    assert m["macro_top1"] == pytest.approx(0.5)
    assert confidence_sets(probs, 0.9).tolist() == [2, 2, 3, 1]
    assert m["average_k"] == pytest.approx(2.0)
    assert m["confusion"]["counts"] == [[1, 0, 1], [0, 0, 0], [0, 1, 1]]
    s = summarise_folds([{"top1": 0.5}, {"top1": 0.7}], ("top1",))
    assert s["top1"]["mean"] == pytest.approx(0.6) and s["top1"]["std"] == pytest.approx(0.1)


def test_confusion_png_and_media(tmp_path):
    path = render_confusion_png(np.array([[5, 1], [0, 6]]), ["rust", "healthy"], tmp_path / "c.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 56
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (2000, 1000), "green").save(photo)
    sha = "ab" * 32
    assert write_reference_media(tmp_path / "media", sha, photo.read_bytes()) == 3
    assert write_reference_media(tmp_path / "media", sha, photo.read_bytes()) == 0
    sizes = {s: Image.open(reference_media_path(tmp_path / "media", sha, s)).size for s in "oms"}
    assert sizes == {"o": (1280, 640), "m": (512, 256), "s": (192, 96)}
    with pytest.raises(ValueError):
        reference_media_path(tmp_path, "../etc", "o")
