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
    token = csrf_of(client.get("/signup").text)
    answer = client.post("/signup", data={"email": email, "password": password,
                                          "password_confirm": password, "csrf_token": token})
    assert answer.status_code == 303, answer.text
