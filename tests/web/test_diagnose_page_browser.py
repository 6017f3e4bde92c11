"""Diagnosis and the crop-problem catalogue in headless Chromium at 1280 and 390 px: a real
coffee-rust photo through the form, Back/reload on the stored result, the catalogue and its
links to plant profiles, and the HTML error page; axe-core finds no violation on any of them
and none scrolls sideways. Screenshots go to build/screenshots (HORTUS_SCREENSHOTS)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from page_checks import WIDTHS, check_page
from tests.conftest import LiveServer
from web_support import PASSWORD

pytestmark = [pytest.mark.browser]


def _sign_in(page, url: str, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/signup")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/login**")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_diagnose_a_crop_photo_in_a_browser(browser, settings, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    photo = sorted((shared_data / "samples" / "coffee" / "rust").glob("*.jpg"))[0]
    with LiveServer(settings) as server:
        for device, width in WIDTHS.items():
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.set_default_timeout(30000)
            page.goto(f"{server.url}/diagnose")
            expect(page.get_by_role("heading", name="Sign in to diagnose a photo")).to_be_visible()
            check_page(page, f"diagnose-signed-out-{device}")

            _sign_in(page, server.url, f"{device}@example.org")
            page.goto(f"{server.url}/diagnose")
            check_page(page, f"diagnose-form-{device}")
            page.get_by_label("Photo of the sick plant").set_input_files(str(photo))
            page.get_by_label("Crop").select_option("coffee")
            page.get_by_role("button", name="Diagnose").click()
            page.wait_for_url(re.compile(r".*/diagnose/results/[0-9a-f-]{36}$"))
            result_url = page.url
            expect(page.locator(".problem h3").first).to_contain_text("Coffee leaf rust")
            expect(page.get_by_role("img", name="Your photo")).to_be_visible()
            assert page.evaluate("() => document.querySelector('.analysis-photo').naturalWidth") > 0
            check_page(page, f"diagnose-result-{device}")

            # Back returns to the form and Forward to the result, with no resubmission; a
            # reload shows the same stored analysis.
            page.go_back()
            expect(page.get_by_role("heading", name="Diagnose a crop")).to_be_visible()
            page.go_forward()
            assert page.url == result_url
            page.reload()
            expect(page.locator(".problem h3").first).to_contain_text("Coffee leaf rust")

            # From the result to the catalogue entry, and on to a host's plant profile.
            page.locator(".problem h3 a").first.click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Coffee leaf rust")
            check_page(page, f"disease-{device}")
            host = page.locator(".hosts a[href^='/plants/']").first
            if host.count():
                host.click()
                assert page.locator("h1").inner_text()

            page.goto(f"{server.url}/diseases")
            check_page(page, f"diseases-{device}")
            page.get_by_label("Name").fill("blight")
            page.get_by_role("button", name="Search").click()
            page.wait_for_url("**/diseases?**")
            expect(page.locator("ul.diseases li").first).to_be_visible()
            check_page(page, f"diseases-search-{device}")
            page.locator("ul.diseases li a").first.click()
            expect(page.get_by_role("heading", name="Symptoms")).to_be_visible()

            page.goto(f"{server.url}/no/such/page")
            expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
            check_page(page, f"error-404-{device}")
            page.close()
