"""A plant's history names its editors by the public handle they chose, never by e-mail.

Issue 15, item 9: ``GET /api/plants/{id}/revisions`` showed every editor's e-mail address to
any key holder.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.conftest import make_key, permapeople_headers

from hortus.accounts import service as accounts
from hortus.app import create_app
from hortus.bootstrap import prepare_database
from hortus.config import Settings

EDITOR = "rosa.canina@example.org"
READER = "curious@example.org"


def _set_handle(settings: Settings, email: str, handle: str | None) -> int:
    database = prepare_database(settings)
    try:
        with database.write() as session:
            account = accounts.require_account(session=session, email=email)
            accounts.set_handle(session=session, account=account, handle=handle)
            return account.id
    finally:
        database.dispose()


@pytest.mark.both_databases
def test_revisions_show_the_handle_or_a_placeholder_and_never_the_email(
        settings: Settings) -> None:
    editor = permapeople_headers(make_key(settings, EDITOR))
    reader = permapeople_headers(make_key(settings, READER))
    with TestClient(create_app(settings)) as client:
        created = client.post("/api/plants", headers=editor, json={
            "scientific_name": "Rosa canina", "name": "Dog rose", "note": "first"})
        assert created.status_code == 201, created.text
        plant_id = created.json()["id"]
        path = f"/api/plants/{plant_id}/revisions"

        # No handle chosen yet: another key holder sees a placeholder, not the address.
        answer = client.get(path, headers=reader)
        assert answer.status_code == 200, answer.text
        assert EDITOR not in answer.text and "example.org" not in answer.text
        editor_id = _set_handle(settings, EDITOR, None)
        assert answer.json()["revisions"][0]["author"] == f"anonymous #{editor_id}"

        # With a handle, the history names the editor by it (as typed, case kept).
        _set_handle(settings, EDITOR, "Rosa.Canina")
        updated = client.put(f"/api/plants/{plant_id}", headers=editor, json={
            "version": 1, "note": "second", "description": "Hedgerow rose."})
        assert updated.status_code == 200, updated.text
        answer = client.get(path, headers=reader)
        assert EDITOR not in answer.text and "example.org" not in answer.text
        assert [r["author"] for r in answer.json()["revisions"]] == ["Rosa.Canina"] * 2

