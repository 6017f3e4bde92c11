"""Helpers of the Darwin Core, deletion and related-image tests: validated observations,
handles and operators, the CLI on a given configuration, archives built by hand."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from observations_support import Client, read, saved, vote
from sqlalchemy import func, select

from hortus.accounts import service as accounts
from hortus.accounts.keys import NewKey
from hortus.accounts.models import Account
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.media import open_media_store
from hortus.observations.models import Observation

DWC = "http://rs.tdwg.org/dwc/terms/"
DC = "http://purl.org/dc/terms/"
GBIF = "http://rs.gbif.org/terms/1.0/"
MULTIMEDIA = GBIF + "Multimedia"


def validated(client: Client, author: NewKey, voters: Sequence[NewKey],
              photos: Path | bytes | Sequence[Path | bytes], species: str,
              **fields: Any) -> dict[str, Any]:
    """An observation of ``species`` by ``author``, validated by the voters agreeing (three
    newcomers: 3 x 0.742 >= 2)."""
    listed = list(photos) if isinstance(photos, list | tuple) else [photos]
    body = saved(client, author, *listed, determination=species, **fields)
    for voter in voters:
        assert vote(client, voter, body["id"], species).status_code == 200
    answer = read(client, author, body["id"])
    assert answer["isValid"] is True, answer
    return answer


def account_of(settings: Settings, key: NewKey) -> int:
    """The account id of a key."""
    database = prepare_database(settings)
    try:
        with database.read() as session:
            return _by_key(session, key)
    finally:
        database.dispose()


def _by_key(session: Any, key: NewKey) -> int:
    from hortus.accounts.models import ApiKey

    found = session.scalar(select(ApiKey.account_id).where(ApiKey.key_id == key.key_id))
    assert found is not None
    return found


def set_handle(settings: Settings, key: NewKey, handle: str) -> None:
    database = prepare_database(settings)
    try:
        with database.write() as session:
            account = session.get(Account, _by_key(session, key))
            accounts.set_handle(session=session, account=account, handle=handle)
    finally:
        database.dispose()


def make_operator(settings: Settings, key: NewKey) -> None:
    database = prepare_database(settings)
    try:
        with database.write() as session:
            session.get(Account, _by_key(session, key)).is_admin = True
    finally:
        database.dispose()


def counts(settings: Settings) -> dict[str, int]:
    """How many observations and accounts the database holds, and media objects the store."""
    database = prepare_database(settings)
    store = open_media_store(settings, database)
    try:
        with database.read() as session:
            return {"observations": session.scalar(select(func.count(Observation.id))) or 0,
                    "accounts": session.scalar(select(func.count(Account.id))) or 0,
                    "media": sum(1 for _ in store.primary.iter_keys())}
    finally:
        store.close()
        database.dispose()


def stored_photo(settings: Settings, key: str) -> bytes | None:
    """The bytes the configured media store holds under ``key`` (None when absent)."""
    database = prepare_database(settings)
    store = open_media_store(settings, database)
    try:
        body = store.primary.open(key)
        return body.read() if body is not None else None
    finally:
        store.close()
        database.dispose()


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Make the CLI (``get_settings()``) read ``settings``."""
    monkeypatch.setenv("HORTUS_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("HORTUS_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("HORTUS_DATABASE_URL", raising=False)
    monkeypatch.setenv("HORTUS_MODELS_DIR", str(settings.models_dir))
    monkeypatch.setenv("HORTUS_MEDIA_BACKEND", settings.media_backend)
    monkeypatch.setenv("HORTUS_ENVIRONMENT", "test")


# -- archives built by hand --------------------------------------------------------------------

def meta_xml(core_terms: Sequence[str], media_terms: Sequence[str] | None = None, *,
             core_file: str = "occurrence.txt", media_file: str = "multimedia.txt",
             delimiter: str = "\\t", enclosed: str = "", core_row_type: str = DWC + "Occurrence",
             extra: str = "") -> str:
    """A meta.xml whose core has an id column 0 and ``core_terms`` in columns 1.."""
    def fields(terms: Sequence[str]) -> str:
        return "".join(f'<field index="{i}" term="{t}"/>' for i, t in enumerate(terms, start=1))
    text = ('<?xml version="1.0" encoding="UTF-8"?>'
            '<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">'
            f'<core encoding="UTF-8" fieldsTerminatedBy="{delimiter}" linesTerminatedBy="\\n" '
            f'fieldsEnclosedBy="{enclosed}" ignoreHeaderLines="1" rowType="{core_row_type}">'
            f'<files><location>{core_file}</location></files><id index="0"/>'
            f"{fields(core_terms)}</core>")
    if media_terms is not None:
        text += ('<extension encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
                 f'fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="{MULTIMEDIA}">'
                 f'<files><location>{media_file}</location></files><coreid index="0"/>'
                 f"{fields(media_terms)}</extension>")
    return text + extra + "</archive>"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return "".join("\t".join(line) + "\n" for line in [list(header), *map(list, rows)])


def build_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)),
                             data.encode("utf-8") if isinstance(data, str) else data,
                             compress_type=zipfile.ZIP_DEFLATED)
    return path


def zip_bytes(members: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
