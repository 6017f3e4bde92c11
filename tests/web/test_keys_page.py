"""The API keys page: post/redirect/get (a reload makes no second key; the secret is shown
once), rotate and revoke ask first (no JavaScript needed), rotation keeps the key id, hostile
input gets a 4xx page, and the page works at 1280 and 390 px in Chromium."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from page_checks import WIDTHS, check_page
from sqlalchemy import func, select
from web_support import PASSWORD, csrf_of, generate_key, sign_up

from hortus.accounts.keys import NewKey
from hortus.accounts.models import ApiKey
from hortus.web import key_flash

SETTINGS = "/settings/api-key"
HTML = {"accept": "text/html,application/xhtml+xml"}


def _keys(app: FastAPI) -> int:
    with app.state.database.read() as session:
        return session.scalar(select(func.count()).select_from(ApiKey)) or 0


@pytest.mark.both_databases
def test_reload_after_generate_makes_no_second_key(web_client: TestClient,
                                                   web_app: FastAPI) -> None:
    sign_up(web_client, "owner@example.org")
    token = csrf_of(web_client.get(SETTINGS).text)
    made = web_client.post(f"{SETTINGS}/generate", data={"label": "app", "csrf_token": token})
    assert made.status_code == 303 and made.headers["location"] == f"{SETTINGS}#new-key"
    assert _keys(web_app) == 1
    shown = web_client.get(made.headers["location"])
    secret = re.search(r'id="new-key-secret"[^>]*>([^<]+)<', shown.text).group(1)
    # Reloading the page (a GET now) shows the key, never its secret again, and makes none.
    for _ in range(2):
        again = web_client.get(SETTINGS)
        assert again.status_code == 200 and secret not in again.text
    assert _keys(web_app) == 1
    # The flash cookie opens in no other session, and an altered one opens to nothing.
    flash = made.cookies[key_flash.COOKIE_NAME]
    assert secret not in flash  # sealed: the cookie alone does not reveal the secret
    with TestClient(web_app, follow_redirects=False) as other:
        sign_up(other, "other@example.org")
        other.cookies.set(key_flash.COOKIE_NAME, flash)
        assert secret not in other.get(SETTINGS).text
    web_client.cookies.set(key_flash.COOKIE_NAME, flash[:-2] + "xx")
    assert secret not in web_client.get(SETTINGS).text


def test_flash_seal_opens_once_in_its_session_before_it_expires() -> None:
    key = NewKey(key_id="hk0123456789abcdef0123", key_secret="s3cr3t-" * 6)
    flash = key_flash.KeyFlash(kind="rotated", key=key)
    server = b"k" * 48
    value = key_flash.seal(server, "token-a", flash, now=1000.0)
    assert key_flash.unseal(server, "token-a", value, now=1001.0) == flash
    assert key_flash.unseal(server, "token-b", value, now=1001.0) is None  # another session
    assert key_flash.unseal(b"x" * 48, "token-a", value, now=1001.0) is None  # another server
    late = 1000.0 + key_flash.FLASH_SECONDS + 1
    assert key_flash.unseal(server, "token-a", value, now=late) is None
    for junk in ("", "a.b", "." * 600, value.replace("rotated", "generated"), "x." + value):
        assert key_flash.unseal(server, "token-a", junk, now=1001.0) is None
    assert key.key_secret not in value
    assert key_flash.seal(server, "token-a", flash) != key_flash.seal(server, "token-a", flash)


@pytest.mark.both_databases
def test_revoke_and_rotate_ask_first(web_client: TestClient) -> None:
    sign_up(web_client, "owner@example.org")
    key_id, secret, page = generate_key(web_client, label="garden app")
    api_key = f"{key_id}.{secret}"
    # The keys page links to the confirmation pages (no form that acts at once).
    assert f'href="{SETTINGS}/{key_id}/revoke"' in page
    assert f'action="{SETTINGS}/{key_id}/revoke"' not in page
    for action, wording in (("revoke", "Yes, revoke the key"),
                            ("rotate", "Yes, give it a new secret")):
        asked = web_client.get(f"{SETTINGS}/{key_id}/{action}")
        assert asked.status_code == 200 and wording in asked.text and "garden app" in asked.text
        assert f'href="{SETTINGS}#key-{key_id}"' in asked.text  # the way back
        # A POST without the confirmation (an old form, a script) only asks.
        unconfirmed = web_client.post(f"{SETTINGS}/{key_id}/{action}",
                                      data={"csrf_token": csrf_of(asked.text)})
        assert unconfirmed.status_code == 200 and wording in unconfirmed.text
        assert web_client.get("/v2/quota", params={"api-key": api_key}).status_code == 200
    forged = web_client.post(f"{SETTINGS}/{key_id}/revoke",
                             data={"csrf_token": "forged", "confirm": "yes"})
    assert forged.status_code == 403
    confirmed = web_client.post(f"{SETTINGS}/{key_id}/revoke", data={
        "csrf_token": csrf_of(web_client.get(SETTINGS).text), "confirm": "yes"})
    assert confirmed.status_code == 303
    assert web_client.get("/v2/quota", params={"api-key": api_key}).status_code == 401
    assert web_client.get(f"{SETTINGS}/{key_id}/revoke").status_code == 404  # gone


@pytest.mark.both_databases
def test_rotation_keeps_the_id_label_and_exposure(web_client: TestClient) -> None:
    sign_up(web_client, "owner@example.org")
    key_id, secret, page = generate_key(web_client, label="garden app")
    saved = web_client.post(f"{SETTINGS}/{key_id}/exposure", data={
        "expose": "on", "domains": "app.example.org", "ips": "192.0.2.7",
        "csrf_token": csrf_of(page)})
    assert saved.status_code == 303
    rotated = web_client.post(f"{SETTINGS}/{key_id}/rotate", data={
        "csrf_token": csrf_of(page), "confirm": "yes"})
    assert rotated.status_code == 303
    shown = web_client.get(rotated.headers["location"]).text
    assert "The new secret of key" in shown
    new_id = re.search(r'id="new-key-id">([^<]+)<', shown).group(1)
    new_secret = re.search(r'id="new-key-secret"[^>]*>([^<]+)<', shown).group(1)
    assert new_id == key_id and new_secret != secret
    section = re.search(rf'<section class="card key" id="key-{key_id}".*?</section>', shown,
                        re.S).group(0)
    assert "garden app" in section and "app.example.org" in section and "192.0.2.7/32" in section
    assert shown.count('class="card key"') == 1  # no second key


@pytest.mark.both_databases
def test_rotated_secret_works_everywhere(web_client: TestClient) -> None:
    sign_up(web_client, "owner@example.org")
    key_id, secret, page = generate_key(web_client)
    rotated = web_client.post(f"{SETTINGS}/{key_id}/rotate", data={
        "csrf_token": csrf_of(page), "confirm": "yes"})
    shown = web_client.get(rotated.headers["location"]).text
    new_secret = re.search(r'id="new-key-secret"[^>]*>([^<]+)<', shown).group(1)
    for sent, expected in ((secret, 401), (new_secret, 200)):
        assert web_client.get("/v2/quota", params={"api-key": f"{key_id}.{sent}"}
                              ).status_code == expected
        assert web_client.get("/api/plants", headers={"x-permapeople-key-id": key_id,
                                                      "x-permapeople-key-secret": sent}
                              ).status_code == expected
        assert web_client.get("/v1/diseases", headers={"Api-Key": f"{key_id}.{sent}"}
                              ).status_code == expected


def test_settings_addresses_lead_to_the_keys_page(web_client: TestClient) -> None:
    for path in ("/settings", f"{SETTINGS}/generate", "/settings/handle"):
        answer = web_client.get(path, headers=HTML)
        assert answer.status_code == 303 and answer.headers["location"] == SETTINGS, path
    # Signed out, the keys page itself asks to sign in first.
    assert web_client.get(SETTINGS).headers["location"] == f"/login?next={SETTINGS}"
    sign_up(web_client, "owner@example.org")
    key_id, _, _ = generate_key(web_client)
    assert web_client.get(f"{SETTINGS}/{key_id}/exposure").headers["location"] == SETTINGS
    unknown = web_client.get(f"{SETTINGS}/{key_id}/explode", headers=HTML)
    assert unknown.status_code == 404 and "Page not found" in unknown.text


def test_hostile_key_forms_get_a_clear_4xx_page(web_client: TestClient,
                                                web_app: FastAPI) -> None:
    sign_up(web_client, "owner@example.org")
    token = csrf_of(web_client.get(SETTINGS).text)
    for key_id in ("x" * 2000, "hk%00", "../../etc", "hk' OR 1=1 --", "😀"):
        for action in ("rotate", "revoke"):
            answer = web_client.post(f"{SETTINGS}/{key_id}/{action}",
                                     data={"csrf_token": token, "confirm": "yes"})
            assert 400 <= answer.status_code < 500, (key_id, action, answer.status_code)
            asked = web_client.get(f"{SETTINGS}/{key_id}/{action}", headers=HTML)
            assert 400 <= asked.status_code < 500 and "<h1" in asked.text
    # A label of any length or script is stored cut to 200 characters and shown escaped.
    label = "<script>alert(1)</script>" + "é" * 1000
    made = web_client.post(f"{SETTINGS}/generate", data={"label": label, "csrf_token": token})
    assert made.status_code == 303
    page = web_client.get(SETTINGS).text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    # A body over the form cap is refused before it is read.
    huge = web_client.post(f"{SETTINGS}/generate", data={"label": "x" * 100_000,
                                                          "csrf_token": token})
    assert huge.status_code == 413
    junk = web_client.post(f"{SETTINGS}/generate", content=b"\xff\x00" * 50, headers={
        "content-type": "application/x-www-form-urlencoded"})
    assert junk.status_code == 403  # no valid CSRF token in it: nothing made
    assert _keys(web_app) == 1


@pytest.mark.browser
def test_keys_page_in_a_browser_at_both_widths(browser, settings) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect
    from tests.conftest import LiveServer

    with LiveServer(settings) as server:
        for device, width in WIDTHS.items():
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_default_timeout(15000)
            email = f"{device}@example.org"
            page.goto(f"{server.url}/signup")
            page.get_by_label("E-mail address").fill(email)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_label("Password again").fill(PASSWORD)
            page.get_by_role("button", name="Create account").click()
            page.get_by_label("E-mail address").fill(email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state()
            page.goto(f"{server.url}{SETTINGS}")
            expect(page.get_by_role("heading", name="Your API key")).to_be_visible()
            check_page(page, f"keys-empty-{device}")

            page.get_by_label("Label").fill("garden app")
            page.get_by_role("button", name="Generate a new key").click()
            key_id = page.locator("#new-key-id").inner_text().strip()
            secret = page.locator("#new-key-secret").inner_text().strip()
            copy = page.get_by_role("button", name="Copy the key secret")
            expect(copy).to_be_visible()  # 127.0.0.1 is a secure context: copying works
            copy.click()
            expect(page.locator("#copy-status")).not_to_be_empty()
            check_page(page, f"keys-new-secret-{device}")
            page.reload()  # a GET: no "confirm form resubmission", no second key
            assert secret not in page.content()
            assert page.locator("section.key").count() == 1
            check_page(page, f"keys-{device}")

            page.get_by_role("link", name=re.compile("Rotate the secret")).click()
            expect(page.get_by_role("heading", name=re.compile("new secret"))).to_be_visible()
            check_page(page, f"keys-confirm-rotate-{device}")
            page.get_by_role("button", name="Yes, give it a new secret").click()
            assert page.locator("#new-key-id").inner_text().strip() == key_id
            assert page.locator("#new-key-secret").inner_text().strip() != secret

            page.get_by_role("link", name=re.compile("^Revoke")).click()
            check_page(page, f"keys-confirm-revoke-{device}")
            page.get_by_role("link", name="No, keep it as it is").click()
            assert page.locator("section.key").count() == 1
            page.get_by_role("link", name=re.compile("^Revoke")).click()
            page.get_by_role("button", name="Yes, revoke the key").click()
            expect(page.get_by_role("status")).to_contain_text("revoked")
            assert page.locator("section.key").count() == 0
            # The usage table reads as rows of label and value on a phone.
            usage = page.locator("#usage")
            box = usage.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width
            page.close()
