"""Import/export round trips and the maintainer commands, through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.conftest import permapeople_headers

from hortus.accounts.keys import NewKey
from hortus.config import Settings


def hortus(
    data_dir: Path, *args: str, stdin: str | None = None, database_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HORTUS_DATA_DIR": str(data_dir)}
    env.pop("HORTUS_DATABASE_URL", None)
    if database_url:
        env["HORTUS_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "hortus.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        input=stdin,
        timeout=300,
    )


@pytest.mark.both_databases
def test_export_import_round_trip_is_exact(
    client: TestClient, api_key: NewKey, settings: Settings, tmp_path: Path
) -> None:
    """Exported (from SQLite, or PostgreSQL), imported into a fresh SQLite data directory and
    exported again, the file is byte for byte the same."""
    headers = permapeople_headers(api_key)
    base = client.post(
        "/api/plants",
        headers=headers,
        json={
            "scientific_name": "Rubus idaeus",
            "name": "Raspberry",
            "note": "n",
            "description": "Caña «frambuesa» — ünïcode ✓",
            "data": [{"key": "Edible", "value": "true"}],
        },
    ).json()
    client.post(
        "/api/plants",
        headers=headers,
        json={
            "scientific_name": "Rubus idaeus 'Autumn Bliss'",
            "name": "Autumn Bliss",
            "note": "n",
            "type": "Variety",
            "parent_id": base["id"],
        },
    )
    client.put(
        f"/api/plants/{base['id']}",
        headers=headers,
        json={"version": 1, "note": "n", "data": [{"key": "Layer", "value": "Shrubs"}]},
    )

    first = tmp_path / "first.jsonl"
    result = hortus(settings.data_dir, "export", str(first), database_url=settings.database_url)
    assert result.returncode == 0, result.stderr
    lines = first.read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert any(r["scientific_name"] == "Rubus idaeus 'Autumn Bliss'" for r in records)

    fresh = tmp_path / "fresh"
    result = hortus(fresh, "import", str(first))
    assert result.returncode == 0, result.stderr
    second = tmp_path / "second.jsonl"
    assert hortus(fresh, "export", str(second)).returncode == 0
    assert second.read_bytes() == first.read_bytes()


def test_import_rejects_a_bad_file_and_changes_nothing(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": 1, "scientific_name": "A b", "name": "x", "created_at": "2020-01-01T00'
        ':00:00Z", "updated_at": "2020-01-01T00:00:00Z"}\n{not json\n',
        "utf-8",
    )
    fresh = tmp_path / "fresh"
    result = hortus(fresh, "import", str(bad))
    assert result.returncode == 1
    assert "Line 2" in result.stderr and "nothing was changed" in result.stderr
    out = tmp_path / "out.jsonl"
    assert hortus(fresh, "export", str(out)).returncode == 0
    assert out.read_text("utf-8") == ""


def test_keys_create_json_and_db_commands(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    result = hortus(data_dir, "keys", "create", "--account", "ops@example.org", "--json")
    assert result.returncode == 0, result.stderr
    key = json.loads(result.stdout)
    assert set(key) >= {"api_key", "key_id", "key_secret"}
    assert key["api_key"] == f"{key['key_id']}.{key['key_secret']}"
    # Only a digest is stored, never the secret itself.
    assert key["key_secret"].encode() not in (data_dir / "hortus.db").read_bytes()
    assert hortus(data_dir, "db", "upgrade").returncode == 0
    current = hortus(data_dir, "db", "current")
    assert current.returncode == 0 and current.stdout.strip() != "empty"


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b", "x y@z.org"])
def test_keys_create_refuses_bad_emails(tmp_path: Path, email: str) -> None:
    result = hortus(tmp_path / "d", "keys", "create", "--account", email, "--json")
    assert result.returncode != 0 and result.stdout == ""
