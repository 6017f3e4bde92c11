"""The pages in each language in headless Chromium at 1280 and 390 px: the browser's language
chooses the page's (Playwright's ``locale`` sets Accept-Language), axe-core finds no violation,
nothing scrolls sideways, and the language switch works with a click (scripts off) and stays on
the page. Screenshots go to build/screenshots (HORTUS_SCREENSHOTS)."""

from __future__ import annotations

import pytest
from page_checks import WIDTHS, check_page
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser]

LOCALES = {"en": "en-GB", "fr": "fr-CH", "de": "de-DE", "es": "es-ES"}
HEADINGS = {"en": "Problems of this plant", "fr": "Problèmes de cette plante",
            "de": "Probleme dieser Pflanze", "es": "Problemas de esta planta"}
PROFILE = "/plants/solanum-lycopersicum-tomato"


def test_a_profile_in_each_language(browser, settings) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with LiveServer(settings) as server:
        for language, locale in LOCALES.items():
            for device, width in WIDTHS.items():
                context = browser.new_context(locale=locale,
                                              viewport={"width": width, "height": 900})
                page = context.new_page()
                page.set_default_timeout(30000)
                page.goto(server.url + PROFILE)
                assert page.evaluate("() => document.documentElement.lang") == language
                expect(page.get_by_role("heading", name=HEADINGS[language])).to_be_visible()
                expect(page.locator("header form.languages button[aria-current]")) \
                    .to_have_attribute("value", language)
                check_page(page, f"i18n-profile-{language}-{device}")
                context.close()


def test_the_switch_in_a_browser(browser, settings) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with LiveServer(settings) as server:
        context = browser.new_context(locale="en-US", java_script_enabled=False,
                                      viewport={"width": 390, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30000)
        page.goto(server.url + "/plants?q=tomato")
        page.get_by_role("button", name="Deutsch").click()
        page.wait_for_url("**/plants?q=tomato")
        expect(page.get_by_role("heading", level=1)).to_have_text("Pflanzen")
        expect(page.locator("html")).to_have_attribute("lang", "de")
        page.goto(server.url + "/identify")  # the choice stays (a cookie)
        expect(page.get_by_role("heading", level=1)).to_have_text("Eine Pflanze bestimmen")
        page.get_by_role("button", name="Español").click()
        page.wait_for_url("**/identify")
        expect(page.get_by_role("heading", level=1)).to_have_text("Identificar una planta")
        context.close()
