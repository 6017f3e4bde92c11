"""Which language a visitor gets: Accept-Language negotiation (``fr-CH`` reads French, an
unsupported language English), the language switch (a cookie, kept across pages, back to the
page it was used on, no script needed), and requests in different languages answered at the
same time without mixing."""

from __future__ import annotations

import asyncio
import html
import re
import threading

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_support import csrf_of

from hortus.web import i18n
from hortus.web.languages import COOKIE_NAME, accepted_languages, negotiated, visitor_language

HEADING = {"en": "Identify a plant", "fr": "Identifier une plante",
           "de": "Eine Pflanze bestimmen", "es": "Identificar una planta"}


def language_of(page: str) -> str:
    found = re.search(r'<html lang="([a-z]+)">', page)
    assert found, page[:300]
    return found.group(1)


@pytest.mark.parametrize("header, expected", [
    ("fr-CH", "fr"),
    ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
    ("de-AT,de;q=0.9", "de"),
    ("es-419", "es"),
    ("en-GB,en;q=0.9", "en"),
    ("ja", "en"),  # unsupported: English
    ("ja, pt-BR;q=0.8, es;q=0.5", "es"),  # the best supported one
    ("de;q=0.2, fr;q=0.7", "fr"),  # by weight, not by order
    ("fr;q=0, de", "de"),  # q=0 means "not this one"
    ("*", "en"),
    ("", "en"),
    ("fr;q=abc, es", "es"),  # a malformed weight counts as 0
    ("<script>, fr", "fr"),
    ("x" * 5000, "en"),
])
def test_accept_language_is_negotiated(web_client: TestClient, header: str,
                                       expected: str) -> None:
    assert visitor_language(chosen=None, accept_language=header) == expected
    page = web_client.get("/identify", headers={"Accept-Language": header})
    assert page.status_code == 200
    assert language_of(page.text) == expected
    assert page.headers["content-language"] == expected
    assert HEADING[expected] in html.unescape(page.text)
    assert "Accept-Language" in page.headers["vary"]


def test_the_header_is_read_in_order_of_weight() -> None:
    assert accepted_languages("da, en-GB;q=0.8, en;q=0.7") == ["da", "en-GB", "en"]
    assert accepted_languages("fr;q=0.5, de;q=0.5, es") == ["es", "fr", "de"]
    assert accepted_languages(None) == [] and negotiated("nl-BE, it") is None


def test_the_switch_sets_a_cookie_that_outranks_the_browser(web_client: TestClient) -> None:
    headers = {"Accept-Language": "fr-FR,fr;q=0.9"}
    first = web_client.get("/plants?q=rose&sort=name", headers=headers)
    assert language_of(first.text) == "fr"
    # The switch on that page: a form (no script), with the page to come back to.
    assert 'action="/language"' in first.text
    assert 'name="next" value="/plants?q=rose&amp;sort=name"' in first.text
    switched = web_client.post("/language", headers=headers, data={
        "language": "de", "next": "/plants?q=rose&sort=name",
        "csrf_token": csrf_of(first.text)})
    assert switched.status_code == 303
    assert switched.headers["location"] == "/plants?q=rose&sort=name"
    cookie = switched.headers["set-cookie"]
    assert f"{COOKIE_NAME}=de" in cookie and "HttpOnly" in cookie and "Max-Age=31536000" in cookie
    assert "samesite=lax" in cookie.lower()
    # Back on the page, and on every other one, in German, whatever the browser asks for.
    for path in ("/plants?q=rose&sort=name", "/", "/identify", "/diagnose", "/login",
                 "/diseases"):
        page = web_client.get(path, headers=headers)
        assert language_of(page.text) == "de", path
        assert 'value="de" lang="de" class="link" aria-current="true"' in page.text
    assert HEADING["de"] in html.unescape(web_client.get("/identify", headers=headers).text)
    # Back to English by the same switch.
    back = web_client.post("/language", headers=headers, data={
        "language": "en", "next": "/identify",
        "csrf_token": csrf_of(web_client.get("/identify").text)})
    assert back.status_code == 303
    assert language_of(web_client.get("/identify", headers=headers).text) == "en"


def test_the_switch_refuses_what_it_should(web_client: TestClient) -> None:
    token = csrf_of(web_client.get("/").text)
    forged = web_client.post("/language", data={"language": "fr", "next": "/",
                                                "csrf_token": "forged"})
    assert forged.status_code == 403 and COOKIE_NAME not in forged.headers.get("set-cookie", "")
    unknown = web_client.post("/language", headers={"Accept-Language": "es"},
                              data={"language": "xx", "next": "/", "csrf_token": token})
    assert unknown.status_code == 400
    assert "Idioma no disponible" in html.unescape(unknown.text)
    assert "English, Français, Deutsch, Español" in unknown.text
    for hostile in ("//evil.example/", "https://evil.example/", "\\\\evil", "/\x00", ""):
        answer = web_client.post("/language", data={"language": "es", "next": hostile,
                                                     "csrf_token": token})
        assert answer.status_code == 303 and answer.headers["location"] == "/", hostile
    # A cookie naming no page language is ignored (the browser's choice applies).
    web_client.cookies.set(COOKIE_NAME, "klingon")
    assert language_of(web_client.get("/", headers={"Accept-Language": "es"}).text) == "es"


def test_concurrent_requests_in_different_languages_do_not_mix(web_app: FastAPI) -> None:
    """Twenty requests at once, alternating French and German, through the ASGI app: each
    answer is entirely in its own language (the pages render in worker threads while the
    others are in flight)."""
    expected = {"fr": ["Identifier une plante", "Ce que montre chaque photo", "Se connecter"],
                "de": ["Eine Pflanze bestimmen", "Was jedes Foto zeigt", "Anmelden"]}

    async def all_at_once() -> list[tuple[str, str]]:
        transport = httpx.ASGITransport(app=web_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            languages = ["fr" if n % 2 == 0 else "de" for n in range(20)]
            answers = await asyncio.gather(*(
                client.get("/identify", headers={"Accept-Language": language})
                for language in languages))
        return [(language, answer.text) for language, answer in
                zip(languages, answers, strict=True)]

    with TestClient(web_app) as started:  # the app's lifespan (database, settings)
        results = started.portal.call(all_at_once)
    assert len(results) == 20
    for language, page in results:
        text = html.unescape(page)
        other = "de" if language == "fr" else "fr"
        assert language_of(text) == language
        assert all(s in text for s in expected[language]), language
        assert not any(s in text for s in expected[other]), language


def test_worker_threads_keep_their_own_language() -> None:
    """The context variable under the pages: two threads in different languages at once,
    and a pool thread given the caller's language explicitly (the inference pool)."""
    seen: dict[str, list[str]] = {"fr": [], "es": []}
    barrier = threading.Barrier(2)

    def speak(language: str) -> None:
        with i18n.speaking(language):
            barrier.wait()
            for _ in range(50):
                seen[language].append(i18n.gettext("Identify a plant"))

    threads = [threading.Thread(target=speak, args=(lang,)) for lang in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(seen["fr"]) == {"Identifier une plante"}
    assert set(seen["es"]) == {"Identificar una planta"}
    assert i18n.current_language() == "en"
    with i18n.speaking("de"):
        carried = i18n.in_this_language(lambda: i18n.gettext("Identify a plant"))
    out: list[str] = []
    worker = threading.Thread(target=lambda: out.append(carried()))
    worker.start()
    worker.join()
    assert out == ["Eine Pflanze bestimmen"]
