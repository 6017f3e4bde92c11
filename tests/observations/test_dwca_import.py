"""``hortus import FILE.zip``: a GBIF occurrence download (photos as URLs, which are recorded
and not fetched), an archive with photo files and per-photo licences, the archive's people kept
apart from the server's, and hostile archives refused with nothing left behind."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from dwc_support import (
    DC,
    DWC,
    GBIF,
    account_of,
    build_zip,
    counts,
    meta_xml,
    set_handle,
    stored_photo,
    table,
    use_settings,
)
from identify_support import noise_jpeg
from observations_support import DAFFODIL, SNOWDROP, keys
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from hortus.bootstrap import prepare_database
from hortus.cli import app as cli_app
from hortus.observations.dwc_models import DwcMedia
from hortus.observations.models import Observation

CORE = [GBIF + "gbifID", DWC + "occurrenceID", DWC + "basisOfRecord", DWC + "eventDate",
        DWC + "decimalLatitude", DWC + "decimalLongitude",
        DWC + "coordinateUncertaintyInMeters", DWC + "scientificName",
        DWC + "scientificNameAuthorship", DWC + "taxonRank", GBIF + "species", DC + "license",
        DWC + "recordedBy", DWC + "identifiedBy", DWC + "locality"]
MEDIA = [DC + "type", DC + "format", DC + "identifier", DC + "references", DC + "description",
         DC + "creator", DC + "license", DC + "rightsHolder"]
JEAN = "https://www.inaturalist.org/obs/1"
URL = "https://inaturalist-open-data.s3.amazonaws.com/photos/{}/original.jpg"


def _core_row(gbif_id: str, **values: str) -> list[str]:
    names = [t.rsplit("/", 1)[-1] for t in CORE]
    return [gbif_id, *(values.get(name, "") for name in names)]


def _gbif_download(path: Path) -> Path:
    """An archive shaped like a GBIF occurrence download: gbifID ids, GBIF's licence names,
    photos as URLs, a verbatim extension Hortus ignores."""
    species = {"taxonRank": "SPECIES", "basisOfRecord": "HUMAN_OBSERVATION"}
    rows = [
        _core_row("1001", gbifID="1001", occurrenceID=JEAN,
                  eventDate="2023-05-04T10:11:12", decimalLatitude="48.85",
                  decimalLongitude="2.35", coordinateUncertaintyInMeters="30",
                  scientificName="Narcissus pseudonarcissus L.", scientificNameAuthorship="L.",
                  species=DAFFODIL, license="CC_BY_4_0", recordedBy="Jean Dupont",
                  identifiedBy="Jean Dupont", locality="Paris", **species),
        _core_row("1002", gbifID="1002", eventDate="2022-06", scientificName="galanthus nivalis",
                  license="CC_BY_NC_4_0", recordedBy="Ana", identifiedBy="Ana | Bo | Cy",
                  **species),
        _core_row("1003", gbifID="1003", eventDate="2021", scientificName="Quercus imaginaria Fu",
                  license="CC0_1_0", recordedBy="Jean Dupont", **species),
        _core_row("1004", gbifID="1004", eventDate="2021-01-01", decimalLatitude="95",
                  decimalLongitude="3", scientificName=DAFFODIL, license="CC0_1_0",
                  recordedBy="Zoé", **species),
        _core_row("1005", gbifID="1005", eventDate="2021-01-01", scientificName=DAFFODIL,
                  license="All rights reserved", recordedBy="Zoé", **species),
        _core_row("1006", gbifID="1006", eventDate="", scientificName=DAFFODIL,
                  license="CC0_1_0", recordedBy="Zoé", **species),
        _core_row("1007", gbifID="1007", eventDate="2020-09-09/2020-09-10",
                  scientificName="Asteraceae", taxonRank="FAMILY", license="CC_BY_4_0",
                  recordedBy="Zoé", basisOfRecord="HUMAN_OBSERVATION"),
    ]
    media = [
        ["1001", "StillImage", "image/jpeg", URL.format(1), "", "", "Jean Dupont",
         "http://creativecommons.org/licenses/by/4.0/", "Jean Dupont"],
        ["1001", "StillImage", "image/jpeg", URL.format(2), "", "", "Jean Dupont",
         "http://creativecommons.org/licenses/by/4.0/", "Jean Dupont"],
        ["1002", "StillImage", "image/jpeg", URL.format(3), "", "", "Ana", "", "Ana"],
        ["9999", "StillImage", "image/jpeg", URL.format(4), "", "", "", "", ""],
    ]
    verbatim = ('<extension encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
                'fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/'
                'terms/Occurrence"><files><location>verbatim.txt</location></files>'
                f'<coreid index="0"/><field index="1" term="{DWC}verbatimLocality"/>'
                "</extension>")
    return build_zip(path, {
        "meta.xml": meta_xml(CORE, MEDIA, extra=verbatim),
        "occurrence.txt": table(["gbifID", *(t.rsplit("/", 1)[-1] for t in CORE)], rows),
        "multimedia.txt": table(["gbifID", *(t.rsplit("/", 1)[-1] for t in MEDIA)], media),
        "verbatim.txt": "gbifID\tverbatimLocality\n1001\tParis\n",
        "eml.xml": "<eml/>", "rights.txt": "various", "citations.txt": "GBIF.org",
    })


def _run_import(monkeypatch, settings, archive: Path, *extra: str):
    use_settings(monkeypatch, settings)
    return CliRunner().invoke(cli_app, ["import", str(archive), *extra])


def _imported(monkeypatch, settings, archive: Path) -> dict:
    result = _run_import(monkeypatch, settings, archive, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


@pytest.mark.both_databases
def test_a_gbif_download_with_photo_urls(obs_client, obs_settings, monkeypatch, tmp_path):
    local, = keys(obs_settings, 1, prefix="local")
    set_handle(obs_settings, local, "Ana")  # a local person who happens to be called Ana
    archive = _gbif_download(tmp_path / "0012345-240101.zip")
    before = counts(obs_settings)
    report = _imported(monkeypatch, obs_settings, archive)
    assert report["occurrences"] == 7 and report["imported"] == 4, report
    assert report["skipped"] == {"invalid coordinates": 1, "no licence Hortus can honour": 1,
                                 "no usable date": 1}
    assert report["unnamed"] == 2  # an unknown species, a family
    assert report["photos_stored"] == 0
    assert report["photos_skipped"] == {"remote": 3}  # recorded, not fetched
    assert report["media_without_occurrence"] == 1
    assert report["valid"] == 1  # Ana, Bo and Cy agree
    assert report["people_created"] == 5  # Jean Dupont, Ana, Bo, Cy, Zoé
    assert report["ignored_extensions"] == ["http://rs.tdwg.org/dwc/terms/Occurrence"]
    assert any("line 5" in note and "decimalLatitude" in note for note in report["notes"])
    assert counts(obs_settings)["media"] == before["media"]  # nothing was fetched

    # The table the CLI prints says so too.
    text = _run_import(monkeypatch, obs_settings, archive)
    assert text.exit_code == 0 and "NOT fetched" in text.output

    # Published: the valid one, with its people as the archive names them and its photo's URL.
    page = obs_client.get("/v2/dwc/occurrence/search",
                          params={"api-key": local.api_key}).json()
    [ana] = page["results"]
    assert ana["scientificName"].startswith(SNOWDROP) and ana["occurrenceID"] == "1002"
    assert ana["recordedBy"] == "Ana" and ana["identifiedBy"] == "Ana | Bo | Cy"
    assert ana["eventDate"] == "2022-06-01T00:00:00Z"
    assert ana["license"] == "https://creativecommons.org/licenses/by-nc/4.0/"
    assert ana["media"] == [{"type": "StillImage", "identifier": URL.format(3),
                             "license": ana["license"], "creator": "Ana",
                             "rightsHolder": "Ana"}]
    # The archive's Ana is not the server's: the local account has nothing of hers.
    assert ana["user"]["id"] != str(account_of(obs_settings, local))
    mine = obs_client.get("/v2/observations/sync/latest",
                          params={"api-key": local.api_key,
                                  "email": "local0@example.org"}).json()["data"]
    assert mine == []
    jean = obs_client.get(f"/v2/observations/{_observation_of(obs_settings, JEAN)}",
                          params={"api-key": local.api_key}).json()
    assert jean["currentName"] == DAFFODIL and jean["author"]["name"] == "Jean.Dupont"
    assert jean["geo"] == {"lat": 48.85, "lon": 2.35, "place": "Paris", "accuracy": 30.0}
    assert jean["license"] == "cc-by" and jean["images"] == []
    assert _media_urls(obs_settings, JEAN) == [URL.format(1), URL.format(2)]

    # Again: nothing new.
    again = _imported(monkeypatch, obs_settings, archive)
    assert again["imported"] == 0 and again["already_present"] == 4
    assert counts(obs_settings)["observations"] == before["observations"] + 4


def _observation_of(settings, occurrence_id: str) -> int:
    from hortus.observations.dwc_models import DwcOccurrence

    database = prepare_database(settings)
    try:
        with database.read() as session:
            return session.scalar(select(DwcOccurrence.observation_id).where(
                DwcOccurrence.occurrence_id == occurrence_id))
    finally:
        database.dispose()


def _media_urls(settings, occurrence_id: str) -> list[str]:
    database = prepare_database(settings)
    try:
        with database.read() as session:
            return list(session.scalars(
                select(DwcMedia.identifier)
                .where(DwcMedia.observation_id == _observation_of(settings, occurrence_id))
                .order_by(DwcMedia.position)))
    finally:
        database.dispose()


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(noise_jpeg(seed, 200))).save(buffer, format="PNG")
    return buffer.getvalue()


def test_photo_files_with_their_own_licences(obs_client, obs_settings, monkeypatch, tmp_path):
    terms = [DWC + "occurrenceID", DWC + "eventDate", DWC + "scientificName", DC + "license",
             DWC + "recordedBy"]
    jpeg, png = noise_jpeg(11), _png(12)
    archive = build_zip(tmp_path / "photos.zip", {
        "meta.xml": meta_xml(terms, MEDIA),
        "occurrence.txt": table(["id", "occurrenceID", "eventDate", "scientificName", "license",
                                 "recordedBy"],
                                [["o1", "urn:x:1", "2024-05-01", DAFFODIL,
                                  "https://creativecommons.org/licenses/by-sa/4.0/", "Lena"]]),
        "multimedia.txt": table(["coreid", *(t.rsplit("/", 1)[-1] for t in MEDIA)], [
            ["o1", "StillImage", "image/jpeg", "photos/a.jpg", "", "Leaf", "Lena",
             "CC BY-NC 4.0", "Lena K."],
            ["o1", "StillImage", "image/jpeg", "photos/b.jpg", "", "flower", "Lena",
             "All rights reserved", "Lena K."],
            ["o1", "StillImage", "image/jpeg", "photos/c.jpg", "", "", "Lena", "", ""],
            ["o1", "StillImage", "image/png", "photos/d.png", "", "bark-ish", "", "", ""],
        ]),
        "photos/a.jpg": jpeg, "photos/b.jpg": noise_jpeg(13), "photos/c.jpg": b"not a photo",
        "photos/d.png": png,
    })
    report = _imported(monkeypatch, obs_settings, archive)
    assert report["imported"] == 1 and report["photos_stored"] == 2, report
    assert report["photos_skipped"] == {"licence": 1, "unreadable": 1}
    key, = keys(obs_settings, 1, prefix="reader")
    body = obs_client.get(f"/v2/observations/{_observation_of(obs_settings, 'urn:x:1')}",
                          params={"api-key": key.api_key}).json()
    assert body["license"] == "cc-by-sa" and body["currentName"] == DAFFODIL
    assert [i["organ"] for i in body["images"]] == ["leaf", "auto"]
    assert [i["id"] for i in body["images"]] == [hashlib.sha256(jpeg).hexdigest(),
                                                 hashlib.sha256(png).hexdigest()]
    assert stored_photo(obs_settings, hashlib.sha256(png).hexdigest()) == png
    assert obs_client.get(body["images"][1]["s"]).status_code == 200
    database = prepare_database(obs_settings)
    try:
        with database.read() as session:
            credits = [(m.license, m.creator, m.rights_holder, m.skipped) for m in session.scalars(
                select(DwcMedia).where(DwcMedia.observation_id == int(body["id"]))
                .order_by(DwcMedia.position))]
    finally:
        database.dispose()
    assert credits == [("CC BY-NC 4.0", "Lena", "Lena K.", None),
                       ("All rights reserved", "Lena", "Lena K.", "licence"),
                       (None, "Lena", None, "unreadable"), (None, None, None, None)]


# -- hostile archives --------------------------------------------------------------------------

TERMS = [DWC + "occurrenceID", DWC + "eventDate", DWC + "scientificName", DC + "license"]
HEADER = ["id", "occurrenceID", "eventDate", "scientificName", "license"]


def _good_members(**changes: str | bytes) -> dict[str, str | bytes]:
    members: dict[str, str | bytes] = {
        "meta.xml": meta_xml(TERMS, MEDIA),
        "occurrence.txt": table(HEADER, [["a", "urn:h:a", "2024-01-01", DAFFODIL, "cc-by"]]),
        "multimedia.txt": table(["coreid", *(t.rsplit("/", 1)[-1] for t in MEDIA)],
                                [["a", "StillImage", "image/jpeg", "media/a.jpg", "", "", "",
                                  "", ""]]),
        "media/a.jpg": noise_jpeg(21),
    }
    members.update(changes)
    return members


BOMB = b"\0" * (30 * 1024 * 1024)
BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                  '<archive xmlns="http://rs.tdwg.org/dwc/text/">&lol2;</archive>')
HOSTILE = {
    "not a zip": ("plain text, not a zip", "not a readable zip"),
    "zip bomb": (_good_members(**{"occurrence.txt": BOMB}), "zip bomb"),
    "zip bomb in an unread member": (_good_members(**{"verbatim.txt": BOMB}), "zip bomb"),
    "traversal": (_good_members(**{"../../evil.txt": "x"}), "plain relative paths"),
    "absolute": (_good_members(**{"/etc/cron.d/evil": "x"}), "plain relative paths"),
    "backslash": (_good_members(**{"..\\evil.txt": "x"}), "plain relative paths"),
    "identifier traversal": (_good_members(**{"multimedia.txt": table(
        ["coreid", *(t.rsplit("/", 1)[-1] for t in MEDIA)],
        [["a", "StillImage", "image/jpeg", "../../../etc/passwd", "", "", "", "", ""]])}),
        "not a plain relative path"),
    "identifier missing": (_good_members(**{"multimedia.txt": table(
        ["coreid", *(t.rsplit("/", 1)[-1] for t in MEDIA)],
        [["a", "StillImage", "image/jpeg", "media/none.jpg", "", "", "", "", ""]])}),
        "no file 'media/none.jpg'"),
    "no meta.xml": ({"occurrence.txt": "id\n1\n"}, "no meta.xml"),
    "malformed meta.xml": (_good_members(**{"meta.xml": "<archive><core>"}),
                           "not well-formed"),
    "billion laughs": (_good_members(**{"meta.xml": BILLION_LAUGHS}), "DTD"),
    "meta.xml not UTF-8": (_good_members(**{"meta.xml": meta_xml(TERMS).replace(
        "<archive", "<archive x='\u00e9'").encode("latin-1")}), "not UTF-8"),
    "latin-1 data": (_good_members(**{"occurrence.txt": table(HEADER, [
        ["a", "urn:h:a", "2024-01-01", DAFFODIL, "cc-by"]]).replace("cc-by", "cc-by\u00e9")
        .encode("latin-1")}), "occurrence.txt is not UTF-8"),
    "declared latin-1": (_good_members(**{"meta.xml": meta_xml(TERMS).replace(
        'encoding="UTF-8" fields', 'encoding="ISO-8859-1" fields')}), "UTF-8 archives only"),
    "short row": (_good_members(**{"occurrence.txt": table(HEADER, [["a", "urn:h:a"]])}),
                  "line 2: 2 columns"),
    "duplicate ids": (_good_members(**{"occurrence.txt": table(HEADER, [
        ["a", "urn:h:a", "2024-01-01", DAFFODIL, "cc-by"],
        ["a", "urn:h:b", "2024-01-01", DAFFODIL, "cc-by"]])}), "appears twice"),
    "event core": (_good_members(**{"meta.xml": meta_xml(
        TERMS, core_row_type="http://rs.tdwg.org/dwc/terms/Event")}), "Hortus imports occ"),
    "core file missing": (_good_members(**{"meta.xml": meta_xml(TERMS,
                                                                core_file="gone.txt")}),
                          "'gone.txt' is not in the archive"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_and_change_nothing(case, obs_settings, monkeypatch,
                                                         tmp_path):
    members, message = HOSTILE[case]
    path = tmp_path / "hostile.zip"
    if isinstance(members, str):
        path.write_text(members)
    else:
        build_zip(path, members)
    before = counts(obs_settings)
    result = _run_import(monkeypatch, obs_settings, path)
    assert result.exit_code == 1, result.output
    assert "Import failed, nothing was changed" in result.output
    assert message in result.output, result.output
    assert counts(obs_settings) == before


def test_a_failure_after_photos_were_stored_removes_them(obs_settings, monkeypatch, tmp_path):
    """The second occurrence's photo is over the upload cap: the first's, already stored,
    leaves again."""
    big = noise_jpeg(5, 900)
    monkeypatch.setenv("HORTUS_MAX_UPLOAD_BYTES", str(len(big) - 1))
    small = noise_jpeg(6, 64)
    assert len(small) < len(big) - 1
    path = build_zip(tmp_path / "late.zip", _good_members(**{
        "occurrence.txt": table(HEADER, [["a", "urn:h:a", "2024-01-01", DAFFODIL, "cc-by"],
                                         ["b", "urn:h:b", "2024-01-02", DAFFODIL, "cc-by"]]),
        "multimedia.txt": table(["coreid", *(t.rsplit("/", 1)[-1] for t in MEDIA)],
                                [["a", "StillImage", "", "media/a.jpg", "", "", "", "", ""],
                                 ["b", "StillImage", "", "media/b.jpg", "", "", "", "", ""]]),
        "media/a.jpg": small, "media/b.jpg": big}))
    before = counts(obs_settings)
    use_settings(monkeypatch, obs_settings)
    monkeypatch.setenv("HORTUS_MAX_UPLOAD_BYTES", str(len(big) - 1))
    result = CliRunner().invoke(cli_app, ["import", str(path)])
    assert result.exit_code == 1 and "media/b.jpg" in result.output, result.output
    assert counts(obs_settings) == before
    assert stored_photo(obs_settings, hashlib.sha256(small).hexdigest()) is None
    database = prepare_database(obs_settings)
    try:
        with database.read() as session:
            assert session.scalar(select(Observation.id).where(
                Observation.project == "import")) is None
    finally:
        database.dispose()
