"""Operators' commands: ``hortus accounts ...`` and ``hortus keys ...`` (the scripted forms)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hortus.cli import app


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"HORTUS_DATA_DIR": str(tmp_path / "data"), "HORTUS_LOAD_STARTER_DATA": "false"}

    def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=stdin, env=env)

    return invoke


def test_accounts_create_with_password_stdin(run) -> None:  # type: ignore[no-untyped-def]
    ok = run("accounts", "create", "Gardener@Example.org", "--password-stdin",
             stdin="Tomato-Basil-7\n")
    assert ok.exit_code == 0, ok.output
    again = run("accounts", "create", "gardener@example.org", "--password-stdin",
                stdin="Tomato-Basil-7\n")
    assert again.exit_code == 1 and "already exists" in again.output
    weak = run("accounts", "create", "other@example.org", "--password-stdin", stdin="short\n")
    assert weak.exit_code == 1 and "too short" in weak.output
    empty = run("accounts", "create", "empty@example.org", "--password-stdin", stdin="")
    assert empty.exit_code == 1
    bad = run("accounts", "create", "not-an-email", "--password-stdin", stdin="Tomato-Basil-7\n")
    assert bad.exit_code == 1 and "e-mail" in bad.output
    listed = run("accounts", "list", "--json")
    assert [json.loads(line)["email"] for line in listed.output.splitlines()] == [
        "gardener@example.org"]


def test_keys_create_json_then_the_key_works_for_all_apis(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from hortus.app import create_app
    from hortus.config import Settings

    created = run("keys", "create", "--account", "ops@example.org", "--json")
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)
    assert set(key) == {"api_key", "key_id", "key_secret"}
    assert key["api_key"] == f"{key['key_id']}.{key['key_secret']}"
    settings = Settings(data_dir=tmp_path / "data", load_starter_data=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/plants", headers={"x-permapeople-key-id": key["key_id"],
                                                  "x-permapeople-key-secret": key["key_secret"]}
                          ).status_code == 200
        assert client.get("/v2/quota", params={"api-key": key["api_key"]}).status_code == 200
    listed = run("keys", "list", "--account", "ops@example.org", "--json")
    assert key["key_secret"] not in listed.output  # shown once, never again


def test_keys_quota_expose_rotate_revoke(run) -> None:  # type: ignore[no-untyped-def]
    key = json.loads(run("keys", "create", "--account", "ops@example.org", "--json").output)
    shown = run("keys", "quota", "--account", "ops@example.org", "--identify-per-day", "7",
                "--analysis-per-month", "30", "--plants-per-day", "9", "--json")
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert {api: report[api]["limit"] for api in report} == {
        "identify": 7, "analysis": 30, "plants": 9}
    assert report["analysis"]["period"] == "month"
    reset = json.loads(run("keys", "quota", "--account", "ops@example.org", "--reset",
                           "--json").output)
    assert reset["identify"]["limit"] == 500
    assert run("keys", "quota", "--account", "nobody@example.org").exit_code == 1
    assert run("keys", "quota", "--account", "ops@example.org",
               "--plants-per-day", "-1").exit_code != 0

    exposed = run("keys", "expose", key["key_id"], "--account", "ops@example.org", "--on",
                  "--domain", "https://app.example.org", "--ip", "192.0.2.0/24")
    assert exposed.exit_code == 0, exposed.output
    assert json.loads(exposed.output) == {"key_id": key["key_id"], "expose": True,
                                          "domains": ["app.example.org"],
                                          "ips": ["192.0.2.0/24"]}
    bad = run("keys", "expose", key["key_id"], "--account", "ops@example.org",
              "--ip", "192.0.2.300")
    assert bad.exit_code == 1 and "line 1" in bad.output
    listed = json.loads(run("keys", "list", "--account", "ops@example.org", "--json").output)
    assert listed["ips"] == ["192.0.2.0/24"]  # nothing half-saved

    run("keys", "create", "--account", "other@example.org")
    foreign = run("keys", "revoke", key["key_id"], "--account", "other@example.org")
    assert foreign.exit_code == 1 and "no active API key" in foreign.output

    rotated = json.loads(run("keys", "rotate", key["key_id"], "--account", "ops@example.org",
                             "--json").output)
    assert rotated["key_id"] == key["key_id"]  # same id, new secret
    assert rotated["key_secret"] != key["key_secret"]
    after = json.loads(run("keys", "list", "--account", "ops@example.org", "--json").output)
    assert after["key_id"] == rotated["key_id"] and after["expose"] is True
    assert after["domains"] == ["app.example.org"]
    assert run("keys", "revoke", rotated["key_id"], "--account", "ops@example.org").exit_code == 0
    assert run("keys", "list", "--account", "ops@example.org").output.strip() == ""
