"""Sign-up, sign-in, sign-out and the API key page over HTTP: cookies, CSRF, bad input."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_support import PASSWORD, csrf_of, generate_key, sign_up

from hortus.accounts import service
from hortus.accounts.models import Account, WebSession

SETTINGS = "/settings/api-key"


def _count(app: FastAPI, model: type) -> int:
    from sqlalchemy import func, select

    with app.state.database.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_session_cookie_flags(web_client: TestClient) -> None:
    page = web_client.get("/signup")
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert page.headers["x-frame-options"] == "DENY"
    assert "Create your account" in page.text


@pytest.mark.both_databases
def test_sign_up_sign_out_sign_in(web_client: TestClient, web_app: FastAPI) -> None:
    anonymous_cookie = web_client.get("/signup").cookies.get("hortus_session")
    sign_up(web_client, "Gardener@Example.org")
    assert web_client.cookies.get("hortus_session") != anonymous_cookie  # fresh session id
    page = web_client.get(SETTINGS)
    assert page.status_code == 200 and "gardener@example.org" in page.text
    with web_app.state.database.read() as session:
        stored = session.query(Account).one().password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored

    signed_in_cookie = web_client.cookies.get("hortus_session")
    out = web_client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert web_client.get(SETTINGS).headers["location"].startswith("/login")
    # The old cookie no longer opens the account (the session row is gone).
    with TestClient(web_app, follow_redirects=False,
                    cookies={"hortus_session": signed_in_cookie}) as replay:
        assert replay.get(SETTINGS).status_code == 303
    assert _count(web_app, WebSession) == 0

    login = web_client.get(f"/login?next={SETTINGS}")
    wrong = web_client.post("/login", data={"email": "gardener@example.org", "password": "nope",
                                            "next": SETTINGS, "csrf_token": csrf_of(login.text)})
    assert wrong.status_code == 400 and "wrong" in wrong.text
    right = web_client.post("/login", data={"email": "GARDENER@example.org",
                                            "password": PASSWORD, "next": SETTINGS,
                                            "csrf_token": csrf_of(wrong.text)})
    assert right.status_code == 303 and right.headers["location"] == SETTINGS
    evil = web_client.post("/logout", data={"csrf_token": csrf_of(web_client.get(SETTINGS).text)})
    assert evil.status_code == 303


def test_open_redirects_are_refused(web_client: TestClient) -> None:
    sign_up(web_client, "a@example.org")
    page = web_client.get(SETTINGS)
    web_client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    login = web_client.get("/login?next=//evil.example/")
    answer = web_client.post("/login", data={"email": "a@example.org", "password": PASSWORD,
                                             "next": "//evil.example/",
                                             "csrf_token": csrf_of(login.text)})
    assert answer.headers["location"] == "/identify"  # where sign-in lands by default


@pytest.mark.both_databases
def test_bad_sign_ups_save_nothing(web_client: TestClient, web_app: FastAPI) -> None:
    cases = [
        ({"email": "a@example.org", "password": "", "password_confirm": ""}, "Choose a password"),
        ({"email": "a@example.org", "password": "short1A", "password_confirm": "short1A"},
         "too short"),
        ({"email": "a@example.org", "password": "abcdefghijkl", "password_confirm":
          "abcdefghijkl"}, "too simple"),
        ({"email": "a@example.org", "password": "password123", "password_confirm":
          "password123"}, "most common"),
        ({"email": "a@example.org", "password": PASSWORD, "password_confirm": PASSWORD + "x"},
         "differ"),
        ({"email": "no-at-sign", "password": PASSWORD, "password_confirm": PASSWORD},
         "not a valid e-mail"),
    ]
    for form, message in cases:
        token = csrf_of(web_client.get("/signup").text)
        answer = web_client.post("/signup", data={**form, "csrf_token": token})
        assert answer.status_code == 400, form
        assert message in answer.text, (message, answer.text[-800:])
        assert 'role="alert"' in answer.text
    assert _count(web_app, Account) == 0
    sign_up(web_client, "a@example.org")
    with TestClient(web_app, follow_redirects=False) as other:
        answers = []
        for address in ("A@example.org", "new@example.org"):  # taken, then free
            token = csrf_of(other.get("/signup").text)
            answers.append(other.post("/signup", data={
                "email": address, "password": PASSWORD + "!", "password_confirm": PASSWORD + "!",
                "csrf_token": token}))
        # The same answer whether or not the address had an account.
        assert [a.status_code for a in answers] == [303, 303]
        assert answers[0].headers["location"] == answers[1].headers["location"]
        assert answers[0].text == answers[1].text
        assert other.get(SETTINGS).status_code == 303  # neither signed anyone in
    assert _count(web_app, Account) == 2
    with web_app.state.database.read() as session:  # the taken address kept its password
        stored = service.get_account(session=session, email="a@example.org").password_hash
    from hortus.accounts.passwords import verify_password
    assert verify_password(PASSWORD, stored) and not verify_password(PASSWORD + "!", stored)


@pytest.mark.both_databases
def test_forged_and_replayed_csrf_tokens_are_refused(web_client: TestClient,
                                                     web_app: FastAPI) -> None:
    forged = web_client.post("/signup", data={"email": "a@example.org", "password": PASSWORD,
                                              "password_confirm": PASSWORD,
                                              "csrf_token": "forged"})
    assert forged.status_code == 403 and "Nothing was saved" in forged.text
    missing = web_client.post("/signup", data={"email": "a@example.org", "password": PASSWORD,
                                               "password_confirm": PASSWORD})
    assert missing.status_code == 403
    assert _count(web_app, Account) == 0

    sign_up(web_client, "victim@example.org")
    victim_token = csrf_of(web_client.get(SETTINGS).text)
    with TestClient(web_app, follow_redirects=False) as attacker:
        sign_up(attacker, "attacker@example.org")
        # A token from another session does not work in this one.
        replayed = attacker.post(f"{SETTINGS}/generate", data={"csrf_token": victim_token})
        assert replayed.status_code == 403
        # Nor does a token from before signing in.
    with web_app.state.database.read() as session:
        attacker_account = service.get_account(session=session, email="attacker@example.org")
        assert service.list_keys(session=session, account=attacker_account) == []
    # No cookie at all: refused too.
    with TestClient(web_app, follow_redirects=False) as bare:
        assert bare.post("/logout", data={"csrf_token": victim_token}).status_code == 403


@pytest.mark.both_databases
def test_generate_show_once_rotate_revoke(web_client: TestClient) -> None:
    sign_up(web_client, "owner@example.org")
    page = web_client.get(SETTINGS)
    assert "no active API key" in page.text
    made = web_client.post(f"{SETTINGS}/generate", data={"label": "garden app",
                                                         "csrf_token": csrf_of(page.text)})
    assert made.status_code == 303 and made.headers["cache-control"] == "no-store"
    shown = web_client.get(made.headers["location"])
    api_key = re.search(r'id="new-api-key"[^>]*>([^<]+)<', shown.text).group(1)
    key_id, secret = api_key.split(".")
    assert "shown only this once" in shown.text
    again = web_client.get(SETTINGS)
    assert key_id in again.text and secret not in again.text  # never shown again

    rotated = web_client.post(f"{SETTINGS}/{key_id}/rotate",
                              data={"csrf_token": csrf_of(again.text), "confirm": "yes"})
    assert rotated.status_code == 303
    shown = web_client.get(rotated.headers["location"])
    new_key = re.search(r'id="new-api-key"[^>]*>([^<]+)<', shown.text).group(1)
    assert new_key.split(".")[0] == key_id and new_key != api_key  # same id, new secret
    assert web_client.get("/v2/quota", params={"api-key": api_key}).status_code == 401
    assert web_client.get("/v2/quota", params={"api-key": new_key}).status_code == 200

    revoked = web_client.post(f"{SETTINGS}/{key_id}/revoke",
                              data={"csrf_token": csrf_of(shown.text), "confirm": "yes"})
    assert revoked.status_code == 303
    assert "revoked" in web_client.get(revoked.headers["location"]).text
    assert web_client.get("/v2/quota", params={"api-key": new_key}).status_code == 401
    gone = web_client.post(f"{SETTINGS}/{key_id}/revoke",
                           data={"csrf_token": csrf_of(web_client.get(SETTINGS).text),
                                 "confirm": "yes"})
    assert gone.status_code == 404 and "no active API key" in gone.text


@pytest.mark.both_databases
def test_exposure_form_and_bad_lines(web_client: TestClient, web_app: FastAPI) -> None:
    sign_up(web_client, "owner@example.org")
    key_id, _, page = generate_key(web_client)
    token = csrf_of(page)
    bad = web_client.post(f"{SETTINGS}/{key_id}/exposure", data={
        "expose": "on", "domains": "app.example.org\nnot a domain", "ips": "10.0.0.0/33",
        "csrf_token": token})
    assert bad.status_code == 400
    assert "Authorized domains: line 2" in bad.text and "Authorized IPs: line 1" in bad.text
    assert "not a domain" in bad.text  # the draft is kept for correction
    with web_app.state.database.read() as session:
        account = service.get_account(session=session, email="owner@example.org")
        key = service.get_own_key(session=session, account=account, key_id=key_id)
        assert key.expose is False and key.authorized_domains == ""  # nothing half-saved
    good = web_client.post(f"{SETTINGS}/{key_id}/exposure", data={
        "expose": "on", "domains": "https://app.example.org\n", "ips": "192.0.2.7",
        "csrf_token": token})
    assert good.status_code == 303
    shown = web_client.get(good.headers["location"]).text
    assert "exposure settings were saved" in shown and "192.0.2.7/32" in shown


@pytest.mark.both_databases
def test_another_accounts_key_is_not_yours(web_client: TestClient, web_app: FastAPI) -> None:
    sign_up(web_client, "owner@example.org")
    key_id, _, _ = generate_key(web_client)
    with TestClient(web_app, follow_redirects=False) as other:
        sign_up(other, "other@example.org")
        token = csrf_of(other.get(SETTINGS).text)
        for action, data in (("revoke", {"confirm": "yes"}), ("rotate", {"confirm": "yes"}),
                             ("revoke", {}), ("rotate", {}),
                             ("exposure", {"expose": "on", "domains": "evil.example"})):
            answer = other.post(f"{SETTINGS}/{key_id}/{action}", data={**data, "csrf_token": token})
            assert answer.status_code == 404, action
    with web_app.state.database.read() as session:
        account = service.get_account(session=session, email="owner@example.org")
        key = service.get_own_key(session=session, account=account, key_id=key_id)
        assert key.revoked_at is None and key.expose is False


@pytest.mark.both_databases
def test_usage_table(web_client: TestClient) -> None:
    sign_up(web_client, "owner@example.org")
    key_id, secret, _ = generate_key(web_client)
    for _ in range(3):
        web_client.get("/api/plants", headers={"x-permapeople-key-id": key_id,
                                               "x-permapeople-key-secret": secret})
    table = web_client.get(SETTINGS).text
    row = re.search(r'<tr data-api="plants">(.*?)</tr>', table, re.S).group(1)
    assert re.search(r'class="today"[^>]*>3<', row) and re.search(r'class="month"[^>]*>3<', row)
    analysis = re.search(r'<tr data-api="analysis">(.*?)</tr>', table, re.S).group(1)
    assert "per month" in analysis


def test_secret_key_is_generated_once_and_weak_ones_refused_in_production(tmp_path) -> None:
    import pytest
    from accounts_support import make_settings

    from hortus.web.security import InsecureSecretKey, load_secret

    settings = make_settings(tmp_path / "data")
    first = load_secret(settings)
    assert first == load_secret(settings) and len(first) >= 32
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0
    with pytest.raises(InsecureSecretKey):
        load_secret(make_settings(tmp_path / "p", environment="production",
                                  secret_key="changethis"))
    strong = "x" * 8 + "Q" * 40
    assert load_secret(make_settings(tmp_path / "p", environment="production",
                                     secret_key=strong)) == strong.encode()


def test_first_requests_racing_for_the_secret_key_all_get_the_same_whole_key(tmp_path) -> None:
    """The key file is written whole under another name and linked into place: threads that
    all find no key at once (the first web requests of a fresh server) never read a file still
    being written, and agree on one key."""
    import threading

    from accounts_support import make_settings

    from hortus.web.security import load_secret

    def first_request(settings, start: threading.Barrier, keys: list[bytes],
                      errors: list[BaseException]) -> None:
        start.wait()
        try:
            keys.append(load_secret(settings))
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)

    for attempt in range(20):
        settings = make_settings(tmp_path / f"data{attempt}")
        start = threading.Barrier(16)
        keys: list[bytes] = []
        errors: list[BaseException] = []
        threads = [threading.Thread(target=first_request, args=(settings, start, keys, errors))
                   for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert len(keys) == 16 and len(set(keys)) == 1 and len(keys[0]) >= 32
        folder = tmp_path / f"data{attempt}"
        assert sorted(p.name for p in folder.iterdir() if "secret" in p.name) == ["secret_key"]
