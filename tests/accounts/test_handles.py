"""Public handles: the rule they follow, one owner whatever the case, and the three ways to set
one (service, ``hortus accounts set-handle``, the settings page)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from tests.web.web_support import csrf_of, sign_up
from typer.testing import CliRunner

from hortus.accounts import service
from hortus.accounts.models import Account
from hortus.app import create_app
from hortus.bootstrap import prepare_database
from hortus.cli import app as cli_app
from hortus.config import Settings
from hortus.errors import InvalidInput

SETTINGS_PAGE = "/settings/api-key"


@pytest.mark.parametrize("handle", ["ros", "Rosa.Canina_2", "a-b", "123", "x" * 32, "A..b"])
def test_valid_handles_are_kept_as_typed(handle: str) -> None:
    assert service.normalise_handle(f"  {handle} ") == handle


@pytest.mark.parametrize("handle", [
    "ab",  # too short
    "x" * 33,  # too long
    "rosa canina",  # space
    "rosa@example.org",  # no e-mail addresses as handles
    "ros\u0430",  # a Cyrillic "a" that looks like a Latin one
    "-rosa",  # reads as a command-line option
    ".rosa",
    "anonymous #3",  # no handle can pass for a placeholder
    "rosa/canina",
])
def test_invalid_handles_are_refused_with_the_rule(handle: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        service.normalise_handle(handle)
    assert refused.value.error == "invalid handle"
    assert "3 to 32 characters" in refused.value.message


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_an_empty_handle_means_none(empty: str | None) -> None:
    assert service.normalise_handle(empty) is None


def test_public_name_is_the_handle_or_a_placeholder() -> None:
    assert service.public_name(account_id=7, handle="rosa") == "rosa"
    assert service.public_name(account_id=7, handle=None) == "anonymous #7"
    assert service.public_name(account_id=None, handle=None) is None


def test_handles_are_unique_whatever_the_case(any_settings: Settings) -> None:
    """On SQLite and on PostgreSQL: the service refuses a taken handle in any case, and the
    database's index refuses it too when two writers race past the service's check."""
    database = prepare_database(any_settings)
    try:
        with database.write() as session:
            rosa = service.get_or_create_account(session=session, email="rosa@example.org")
            other = service.get_or_create_account(session=session, email="other@example.org")
            third = service.get_or_create_account(session=session, email="third@example.org")
            service.set_handle(session=session, account=rosa, handle="Rosa")
            ids = rosa.id, other.id
        with database.write() as session, pytest.raises(InvalidInput) as taken:
            service.set_handle(session=session, account=other, handle="rOSA")
        assert taken.value.error == "handle taken"
        assert "'rOSA' is taken" in taken.value.message
        with database.write() as session:
            # Accounts without a handle never collide; changing one's own case is no clash.
            assert session.get(Account, third.id).handle is None  # type: ignore[union-attr]
            assert service.set_handle(session=session, account=rosa, handle="ROSA").handle == "ROSA"
        # The race: straight to the table, past the service's check.
        with (database.write() as session, pytest.raises(IntegrityError),
              session.begin_nested()):
            session.get(Account, ids[1]).handle = "rosa"  # type: ignore[union-attr]
        with database.write() as session:
            service.set_handle(session=session, account=rosa, handle=None)  # released ...
            assert service.set_handle(session=session, account=other, handle="rosa").handle == (
                "rosa")  # ... and taken by another
        with database.read() as session:
            handles = {a.email: a.handle for a in service.list_accounts(session=session)}
        assert handles == {"rosa@example.org": None, "other@example.org": "rosa",
                           "third@example.org": None}
    finally:
        database.dispose()


def test_the_cli_sets_lists_and_clears_a_handle(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"HORTUS_DATA_DIR": str(tmp_path / "data"), "HORTUS_LOAD_STARTER_DATA": "false"}

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli_app, list(args), env=env)

    assert run("keys", "create", "--account", "rosa@example.org").exit_code == 0
    assert run("keys", "create", "--account", "other@example.org").exit_code == 0
    chosen = run("accounts", "set-handle", "rosa@example.org", "Rosa.Canina")
    assert chosen.exit_code == 0, chosen.output
    assert "as Rosa.Canina" in chosen.output
    clash = run("accounts", "set-handle", "other@example.org", "rosa.canina")
    assert clash.exit_code == 1 and "is taken" in clash.output
    bad = run("accounts", "set-handle", "other@example.org", "no spaces")
    assert bad.exit_code == 1 and "3 to 32 characters" in bad.output
    assert run("accounts", "set-handle", "other@example.org").exit_code == 2  # nothing to set
    listed = [json.loads(line) for line in run("accounts", "list", "--json").output.splitlines()]
    assert [(a["email"], a["handle"]) for a in listed] == [
        ("rosa@example.org", "Rosa.Canina"), ("other@example.org", None)]
    cleared = run("accounts", "set-handle", "rosa@example.org", "--clear")
    assert cleared.exit_code == 0 and "as anonymous #" in cleared.output
    assert "handle=-" in run("accounts", "list").output


def test_the_settings_page_sets_a_handle(acct_settings: Settings) -> None:
    with TestClient(create_app(acct_settings), follow_redirects=False) as client:
        assert client.post("/settings/handle", data={"handle": "rosa"}).headers[
            "location"].startswith("/login")  # sign in first
        database = client.app.state.database  # type: ignore[attr-defined]
        with database.write() as session:
            taken = service.get_or_create_account(session=session, email="first@example.org")
            service.set_handle(session=session, account=taken, handle="Taken")
        sign_up(client, "rosa@example.org")
        page = client.get(SETTINGS_PAGE)
        assert page.status_code == 200 and 'id="public-name"' in page.text
        assert "anonymous #" in page.text
        token = csrf_of(page.text)

        forged = client.post("/settings/handle", data={"handle": "rosa", "csrf_token": "x"})
        assert forged.status_code == 403
        for handle, message in (("r", "3 to 32 characters"), ("taken", "is taken")):
            refused = client.post("/settings/handle",
                                  data={"handle": handle, "csrf_token": token})
            assert refused.status_code == 400 and message in refused.text
            assert f'value="{handle}"' in refused.text  # the draft is kept for correction
        saved = client.post("/settings/handle", data={"handle": "Rosa.C", "csrf_token": token})
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"{SETTINGS_PAGE}?notice=handle-saved#public-name"
        page = client.get(saved.headers["location"])
        assert '<strong id="shown-as">Rosa.C</strong>' in page.text
        assert "Your public name was saved." in page.text
        cleared = client.post("/settings/handle", data={"handle": "", "csrf_token": token})
        assert cleared.status_code == 303
        with database.read() as session:
            rosa = service.require_account(session=session, email="rosa@example.org")
        assert rosa.handle is None
