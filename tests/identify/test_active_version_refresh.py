"""A running server serves the version another process activates (``hortus projects update``,
``rollback``, ``activate``), within ``projects_refresh_interval``, without a restart."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from identify_support import PROJECT, TrainedFlora, flora_settings
from tests.conftest import make_key

from hortus.app import create_app
from hortus.config import Settings
from hortus.vision.artifacts import MANIFEST_FILE, activate_version, active_version_dir


def _models_with_two_versions(flora: TrainedFlora, root: Path) -> tuple[Path, str, str]:
    """A models folder of its own: the session's trained version and a copy of it under
    another version name (the session's project is shared; it is never changed here)."""
    models_dir = root / "models"
    (models_dir / "projects" / PROJECT).mkdir(parents=True)
    (models_dir / "backbones").symlink_to((flora.models_dir / "backbones").resolve())
    first = active_version_dir(flora.models_dir / "projects" / PROJECT)
    assert first is not None
    project_dir = models_dir / "projects" / PROJECT
    shutil.copytree(first, project_dir / first.name)
    second = "29990101-000000"
    shutil.copytree(first, project_dir / second)
    manifest = json.loads((project_dir / second / MANIFEST_FILE).read_text())
    manifest["version"] = second
    (project_dir / second / MANIFEST_FILE).write_text(json.dumps(manifest))
    activate_version(models_dir / "projects", PROJECT, first.name)
    return models_dir, first.name, second


def _served_version(client: TestClient, key, flora: TrainedFlora) -> str:
    response = client.post(f"/v2/identify/{PROJECT}", params={"api-key": key.api_key},
                           files=[("images", ("p.jpg", flora.photo("daffodil").read_bytes(),
                                              "image/jpeg"))],
                           data={"organs": ["flower"]})
    assert response.status_code == 200, response.text
    return response.json()["version"]


def _wait_for(client: TestClient, key, flora: TrainedFlora, version: str) -> float:
    began = time.monotonic()
    while (served := _served_version(client, key, flora)) != version:
        assert time.monotonic() - began < 10, f"still serving {served}, not {version}"
        time.sleep(0.05)
    return time.monotonic() - began


@pytest.mark.parametrize("interval", [0.2, 0.0])
def test_a_version_activated_elsewhere_is_served_without_restart(
        settings: Settings, flora: TrainedFlora, tmp_path: Path, interval: float) -> None:
    """Within the interval, an activation and then a rollback made beside the running app are
    served; with 0 (never check), the version loaded at start stays."""
    models_dir, first, second = _models_with_two_versions(flora, tmp_path)
    live = flora_settings(settings, flora, models_dir=models_dir,
                          projects_refresh_interval=interval)
    key = make_key(live)
    with TestClient(create_app(live)) as client:
        assert _served_version(client, key, flora) == first
        activate_version(models_dir / "projects", PROJECT, second)  # as another process does
        if interval == 0:
            time.sleep(0.3)
            assert _served_version(client, key, flora) == first
            return
        assert _wait_for(client, key, flora, second) < 5
        activate_version(models_dir / "projects", PROJECT, first)  # a rollback
        assert _wait_for(client, key, flora, first) < 5
