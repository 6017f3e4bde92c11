"""The plant browser in headless Chromium at 1280 and 390 px: a misspelt search, "did you
mean", filters and sorting, a profile with its photo and names, a bad page number and a missing
plant; axe-core finds no violation on any of them and none scrolls sideways. Screenshots go to
build/screenshots (HORTUS_SCREENSHOTS)."""

from __future__ import annotations

import pytest
from page_checks import WIDTHS, check_page
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser]


def test_browse_plants_in_a_browser(browser, settings) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with LiveServer(settings) as server:
        for device, width in WIDTHS.items():
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_default_timeout(30000)
            page.goto(f"{server.url}/plants")
            check_page(page, f"plants-{device}")

            # A misspelt name: the tomato first, and the right spelling offered.
            page.get_by_label("Search plants by name").fill("tomatoe")
            page.get_by_role("button", name="Search", exact=True).click()
            page.wait_for_url("**/plants?q=tomatoe**")
            expect(page.locator(".card-title").first).to_have_text("Tomato")
            expect(page.locator(".suggestion")).to_contain_text("Did you mean tomato?")
            assert page.evaluate("() => document.querySelector('img.thumb').naturalWidth") > 0
            check_page(page, f"plants-search-typo-{device}")
            page.locator(".suggestion a").click()
            page.wait_for_url("**/plants?q=tomato")
            expect(page.locator(".suggestion")).to_have_count(0)

            # Filters and sorting, in the disclosure under the search box.
            page.get_by_text("Filters and sorting").click()
            page.get_by_label("Kind").select_option("variety")
            page.get_by_label("Sort by").select_option("name")
            check_page(page, f"plants-filters-open-{device}")
            page.get_by_role("button", name="Apply").click()
            page.wait_for_url("**kind=variety**")
            expect(page.get_by_role("status")).to_contain_text("Kind: Varieties")
            names = page.locator(".card-title").all_inner_texts()
            assert names and names == sorted(names, key=str.lower)
            expect(page.locator(".tag").first).to_contain_text("variety of Tomato")
            check_page(page, f"plants-filtered-{device}")

            # A name in another language, then the profile it leads to.
            page.goto(f"{server.url}/plants?q=fraises")
            expect(page.locator(".card-title").first).to_have_text("Strawberry")
            expect(page.locator(".other-name").first).to_contain_text("French: Fraise")
            page.locator(".card-title a").first.click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Strawberry")
            expect(page.locator(".facts").first).to_contain_text("Edible")
            expect(page.locator("dd[lang=fr]")).to_contain_text("Fraise")
            check_page(page, f"plant-profile-{device}")
            page.goto(f"{server.url}/plants/solanum-lycopersicum-tomato")
            expect(page.locator(".profile-photo figcaption")).to_contain_text("CC BY-SA 3.0")
            check_page(page, f"plant-profile-photo-{device}")

            # Bad addresses: a sentence and the search form, never a developer's message.
            page.goto(f"{server.url}/plants?page=abc")
            expect(page.get_by_role("alert")).to_contain_text("is not a page number")
            check_page(page, f"plants-bad-page-{device}")
            answer = page.goto(f"{server.url}/plants/solanum-lycopersicm")
            assert answer is not None and answer.status == 404
            expect(page.get_by_role("heading", level=1)).to_have_text("Plant not found")
            expect(page.get_by_role("link", name="Back to your API keys")).to_have_count(0)
            expect(page.locator(".card-title").first).to_have_text("Tomato")
            check_page(page, f"plant-missing-{device}")
            page.close()
