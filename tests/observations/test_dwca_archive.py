"""``hortus export --format dwca`` and ``hortus import``: a Darwin Core Archive GBIF's validator
rules accept, with the photos inside; imported into an empty server it gives back the same
observations (names, photos byte for byte, licences, dates, places), and importing it again
changes nothing."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from dwc_support import (
    MULTIMEDIA,
    counts,
    set_handle,
    stored_photo,
    use_settings,
    validated,
)
from dwca_checks import check_archive
from observations_support import DAFFODIL, SNOWDROP, SUNFLOWER, keys, saved
from typer.testing import CliRunner

from hortus.cli import app as cli_app
from hortus.config import Settings


def _export(monkeypatch, settings: Settings, target: Path, *extra: str) -> None:
    use_settings(monkeypatch, settings)
    result = CliRunner().invoke(cli_app, ["export", "--format", "dwca", str(target), *extra])
    assert result.exit_code == 0, result.output
    assert target.is_file()


def _import(monkeypatch, settings: Settings, archive: Path) -> dict:
    use_settings(monkeypatch, settings)
    result = CliRunner().invoke(cli_app, ["import", str(archive), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.fixture
def source(obs_client, obs_settings, flora):
    """A server with two valid observations (three photos), one named but not valid, one
    nobody named, and a deleted one."""
    rosa, b, c = keys(obs_settings, 3, prefix="arc")
    set_handle(obs_settings, rosa, "rosa")
    photos = {"daffodil": [flora.photo("daffodil", 2).read_bytes(),
                           flora.photo("daffodil", 3).read_bytes()],
              "snowdrop": [flora.photo("snowdrop", 2).read_bytes()],
              "sunflower": [flora.photo("sunflower", 2).read_bytes()],
              "crocus": [flora.photo("crocus", 2).read_bytes()]}
    daffodil = validated(obs_client, rosa, [b, c], photos["daffodil"], DAFFODIL,
                         organs=["flower", "leaf"], date="2024-04-02T09:30:00Z", lat="43.61",
                         lon="3.87", accuracy="12", place="Montpellier\tHérault",
                         license="cc-by")
    snowdrop = validated(obs_client, b, [rosa, c], photos["snowdrop"][0], SNOWDROP,
                         date="2023-02-10", lat="-12.5", lon="130.25")
    casual = saved(obs_client, c, *photos["sunflower"], determination=SUNFLOWER,
                   license="cc0", date="2022-07-01")
    unnamed = saved(obs_client, rosa, *photos["crocus"], date="2021-03-03")
    deleted = validated(obs_client, b, [rosa, c], flora.photo("dandelion", 2),
                        "Taraxacum officinale")
    gone = obs_client.delete(f"/v2/observations/{deleted['id']}", params={"api-key": b.api_key})
    assert gone.status_code == 200
    return {"settings": obs_settings, "photos": photos, "daffodil": daffodil,
            "snowdrop": snowdrop, "casual": casual, "unnamed": unnamed}


@pytest.fixture
def empty_settings(tmp_path: Path, sqlite_template: Path, flora) -> Settings:
    """Another server: a fresh database (no observation, no account) and its own media."""
    data_dir = tmp_path / "empty"
    data_dir.mkdir()
    shutil.copy(sqlite_template, data_dir / "hortus.db")
    return Settings(data_dir=data_dir, environment="test", models_dir=flora.models_dir,
                    warm_up_engine=False, media_backend="database")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.both_databases
def test_export_writes_an_archive_gbif_would_accept(source, monkeypatch, tmp_path):
    target = tmp_path / "out" / "observations.zip"
    _export(monkeypatch, source["settings"], target)
    data = target.read_bytes()
    checked = check_archive(data)
    core = checked.core.records()
    # By default only the valid observations.
    assert len(core) == 2
    assert {r["identificationVerificationStatus"] for r in core} == {"research"}
    by_name = {r["scientificName"]: r for r in core}
    daffodil = by_name["Narcissus pseudonarcissus L."]
    assert daffodil["occurrenceID"] == daffodil["id"]
    assert daffodil["basisOfRecord"] == "HumanObservation"
    assert daffodil["eventDate"] == "2024-04-02T09:30:00Z"
    assert (daffodil["decimalLatitude"], daffodil["decimalLongitude"]) == ("43.61", "3.87")
    assert daffodil["locality"] == "Montpellier Hérault"  # the tab is gone, UTF-8 kept
    assert daffodil["license"] == "https://creativecommons.org/licenses/by/4.0/"
    assert daffodil["recordedBy"] == daffodil["rightsHolder"] == "rosa"
    assert daffodil["identifiedBy"].split(" | ")[0] == "rosa"
    assert daffodil["taxonRank"] == "species" and daffodil["family"] == "Amaryllidaceae"
    # Each photo: its own row, licence and creator, and the photo itself, byte for byte.
    media = checked.extensions[MULTIMEDIA].records()
    archive = zipfile.ZipFile(io.BytesIO(data))
    rows = [m for m in media if m["id"] == daffodil["id"]]
    assert [m["description"] for m in rows] == ["flower", "leaf"]
    for row, photo in zip(rows, source["photos"]["daffodil"], strict=True):
        assert row["identifier"] == f"media/{_sha(photo)}.jpg"
        assert archive.read(row["identifier"]) == photo
        assert row["type"] == "StillImage" and row["format"] == "image/jpeg"
        assert row["license"] == daffodil["license"]
        assert row["creator"] == row["rightsHolder"] == "rosa"
    snowdrop = by_name["Galanthus nivalis L."]
    assert [m["license"] for m in media if m["id"] == snowdrop["id"]] == \
        ["https://creativecommons.org/licenses/by-sa/4.0/"]
    assert sorted(n for n in checked.names if n.startswith("media/")) == sorted(
        f"media/{_sha(p)}.jpg" for p in [*source["photos"]["daffodil"],
                                          *source["photos"]["snowdrop"]])
    # The dataset's licence: share-alike records make it CC BY-NC for GBIF (each row says
    # its own).
    link = checked.eml.find("dataset/intellectualRights/para/ulink")
    assert link is not None
    assert link.get("url") == "http://creativecommons.org/licenses/by-nc/4.0/legalcode"
    assert checked.eml.find("dataset/title").text == "Hortus observations"


@pytest.mark.both_databases
def test_round_trip_into_an_empty_server(source, empty_settings, monkeypatch, tmp_path):
    first = tmp_path / "first.zip"
    _export(monkeypatch, source["settings"], first, "--all", "--title", "Round trip")
    before = counts(empty_settings)
    report = _import(monkeypatch, empty_settings, first)
    # 4 observations (the deleted one is never exported), 5 photos.
    assert report["occurrences"] == 4 and report["imported"] == 4, report
    assert report["already_present"] == 0 and report["skipped"] == {}
    assert report["photos_stored"] == 5 and report["photos_skipped"] == {}
    assert report["unnamed"] == 1  # the crocus nobody named
    assert report["valid"] == 2  # author + two voters each, as on the first server
    assert report["people_created"] == 3
    after = counts(empty_settings)
    assert after["observations"] == before["observations"] + 4
    assert after["accounts"] == before["accounts"] + 3
    for photos in source["photos"].values():  # every photo, byte for byte
        for photo in photos:
            assert stored_photo(empty_settings, _sha(photo)) == photo
            assert stored_photo(empty_settings, f"{_sha(photo)}_m") is not None

    # Exported again from the new server: the same occurrences, the same photos.
    second = tmp_path / "second.zip"
    _export(monkeypatch, empty_settings, second, "--all")
    one, two = check_archive(first.read_bytes()), check_archive(second.read_bytes())

    def rows(checked, table):
        drop = {"modified"}
        return sorted(tuple(sorted((k, v) for k, v in r.items() if k not in drop))
                      for r in table(checked).records())

    assert rows(one, lambda c: c.core) == rows(two, lambda c: c.core)
    assert rows(one, lambda c: c.extensions[MULTIMEDIA]) == \
        rows(two, lambda c: c.extensions[MULTIMEDIA])
    zips = zipfile.ZipFile(first), zipfile.ZipFile(second)
    media = sorted(n for n in zips[0].namelist() if n.startswith("media/"))
    assert len(media) == 5
    assert media == sorted(n for n in zips[1].namelist() if n.startswith("media/"))
    for name in media:
        assert zips[0].read(name) == zips[1].read(name)
    statuses = {r["scientificName"]: r["identificationVerificationStatus"]
                for r in two.core.records()}
    assert statuses == {"Narcissus pseudonarcissus L.": "research",
                        "Galanthus nivalis L.": "research", "Helianthus annuus L.": "casual",
                        "Plantae": "casual"}

    # Importing again adds nothing (occurrenceID), on either server.
    again = _import(monkeypatch, empty_settings, first)
    assert again["imported"] == 0 and again["already_present"] == 4
    assert counts(empty_settings) == after
    own = _import(monkeypatch, source["settings"], first)
    assert own["imported"] == 0 and own["already_present"] == 4


def test_export_refuses_stdout_and_unknown_formats(obs_settings, monkeypatch, tmp_path):
    use_settings(monkeypatch, obs_settings)
    stdout = CliRunner().invoke(cli_app, ["export", "--format", "dwca", "-"])
    assert stdout.exit_code != 0 and "zip" in stdout.output
    unknown = CliRunner().invoke(cli_app, ["export", "--format", "csv", str(tmp_path / "x")])
    assert unknown.exit_code != 0 and "plants or dwca" in unknown.output
    # The plants' JSON-lines export is still the default.
    plants = CliRunner().invoke(cli_app, ["export", str(tmp_path / "plants.jsonl")])
    assert plants.exit_code == 0, plants.output
    first = (tmp_path / "plants.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert isinstance(json.loads(first), dict)
