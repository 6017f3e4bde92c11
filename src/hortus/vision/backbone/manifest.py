"""The manifest that travels with every backbone ONNX file (``manifest.json`` beside it)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

MANIFEST_FILE = "manifest.json"


class BackboneError(RuntimeError):
    """A backbone directory is missing, inconsistent or fails its checksum."""


@dataclass(frozen=True)
class BackboneManifest:
    """Everything needed to feed and read a backbone, whatever its architecture.

    ``mean``/``std`` apply to 0..255 pixels as ``(x - mean) / std``. ``resize_short`` is the
    length the shorter side is resized to before the centre ``input_size`` crop.
    """

    name: str
    file: str
    sha256: str
    input_size: int
    resize_short: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_name: str
    embedding_output: str
    logits_output: str | None
    embedding_size: int
    labels_file: str | None
    source: str | None = None  # where the weights came from, and their licence

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BackboneManifest:
        """Validate a decoded ``manifest.json``; unknown keys are ignored for forward compat."""
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.name != "source"}
        missing = required - set(raw)
        if missing:
            raise BackboneError(f"manifest lacks {sorted(missing)}")
        values = {k: v for k, v in raw.items() if k in known}
        try:
            values["mean"] = _triple(values["mean"])
            values["std"] = _triple(values["std"])
            for key in ("input_size", "resize_short", "embedding_size"):
                values[key] = int(values[key])
        except (TypeError, ValueError) as exc:
            raise BackboneError(f"bad manifest value: {exc}") from exc
        manifest = cls(**values)
        if manifest.input_size <= 0 or manifest.resize_short < manifest.input_size:
            raise BackboneError("manifest needs 0 < input_size <= resize_short")
        if any(s == 0 for s in manifest.std):
            raise BackboneError("manifest std must be non-zero")
        if Path(manifest.file).name != manifest.file or (
            manifest.labels_file is not None
            and Path(manifest.labels_file).name != manifest.labels_file
        ):
            raise BackboneError("manifest file names must be plain names inside the model dir")
        return manifest

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists)."""
        out = asdict(self)
        out["mean"] = list(self.mean)
        out["std"] = list(self.std)
        return out


def _triple(value: Any) -> tuple[float, float, float]:
    items = tuple(float(v) for v in value)
    if len(items) != 3:
        raise ValueError("mean/std need exactly 3 values")
    return items  # type: ignore[return-value]


def read_manifest(model_dir: Path) -> BackboneManifest:
    """Read and validate ``model_dir/manifest.json``."""
    path = Path(model_dir) / MANIFEST_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackboneError(f"no {MANIFEST_FILE} in {model_dir}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise BackboneError(f"unreadable {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise BackboneError(f"{path} is not a JSON object")
    return BackboneManifest.from_dict(raw)


def write_manifest(model_dir: Path, manifest: BackboneManifest) -> Path:
    """Write ``model_dir/manifest.json`` atomically."""
    path = Path(model_dir) / MANIFEST_FILE
    write_atomic(path, (json.dumps(manifest.to_dict(), indent=2) + "\n").encode("utf-8"))
    return path


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` via a temp file in the same directory and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
