"""Helpers for the web tests: CSRF tokens in pages, signing up."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

PASSWORD = "Tomato-Basil-7"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_up(client: TestClient, email: str, password: str = PASSWORD) -> None:
    """Sign up, then sign in (sign-up never signs in: its answer must not tell whether the
    address already had an account)."""
    token = csrf_of(client.get("/signup").text)
    answer = client.post("/signup", data={"email": email, "password": password,
                                          "password_confirm": password, "csrf_token": token})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/login?notice=signed-up"
    page = client.get(answer.headers["location"])
    assert "your account is ready" in page.text
    signed_in = client.post("/login", data={"email": email, "password": password,
                                            "csrf_token": csrf_of(page.text)})
    assert signed_in.status_code == 303, signed_in.text


_NEW_KEY = re.compile(r'id="new-api-key"[^>]*>([^<]+)<')


def generate_key(client: TestClient, label: str = "") -> tuple[str, str, str]:
    """Generate a key on the keys page as a browser does (the POST redirects; the next keys
    page shows the secret once): ``(key_id, secret, that page's HTML)``."""
    made = client.post("/settings/api-key/generate", data={
        "label": label, "csrf_token": csrf_of(client.get("/settings/api-key").text)})
    assert made.status_code == 303, made.text
    page = client.get(made.headers["location"]).text
    match = _NEW_KEY.search(page)
    assert match, "the new key is not shown"
    key_id, secret = match.group(1).split(".")
    return key_id, secret, page
