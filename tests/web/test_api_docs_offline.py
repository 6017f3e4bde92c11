"""``/docs`` and ``/redoc`` render with the network cut: their assets come from Hortus itself.

Headless Chromium loads each page from a live server while every request to a host other than
the server is aborted (and counted). Skipped when Debian's chromium is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from accounts_support import make_settings
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser]


def _cut_network(page, server: LiveServer) -> list[str]:  # type: ignore[no-untyped-def]
    elsewhere: list[str] = []

    def route(route) -> None:  # type: ignore[no-untyped-def]
        url = route.request.url
        if url.startswith(server.url + "/") or url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    page.route("**/*", route)
    return elsewhere


def test_swagger_ui_renders_every_family_offline(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with LiveServer(make_settings(tmp_path / "data")) as server:
        page = browser.new_page()
        elsewhere = _cut_network(page, server)
        page.goto(server.url + "/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        tags = page.locator(".opblock-tag").all_inner_texts()
        assert any("Pl@ntNet" in tag for tag in tags), tags
        assert any("PEAT" in tag for tag in tags), tags
        assert any("Permapeople" in tag for tag in tags), tags
        operations = page.locator(".opblock").count()
        assert operations >= 20
        assert elsewhere == []
        page.close()


def test_redoc_renders_offline(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with LiveServer(make_settings(tmp_path / "data")) as server:
        page = browser.new_page()
        elsewhere = _cut_network(page, server)
        page.goto(server.url + "/redoc")
        page.wait_for_selector("[data-section-id^='tag/']", timeout=30_000)
        assert page.locator("h1").first.inner_text().startswith("Hortus")
        sections = page.locator("[data-section-id^='operation/']").count()
        assert sections >= 20
        # ReDoc's "API docs by Redocly" footer asks its CDN for a logo; the page is complete
        # without it. Nothing else (scripts, styles, fonts) may come from elsewhere.
        assert [url for url in elsewhere if not url.endswith("/logo-mini.svg")] == []
        page.close()
