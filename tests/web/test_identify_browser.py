"""The identification pages in headless Chromium, as a new visitor uses them, at 1280 and 390 px:
several photos from the picker and the camera input, the result's own page (Back, reload),
photos that disagree, a HEIC photo, sign-up landing on the identify page, the history, deleting.
Every page state passes axe-core with no violation and no sideways scrolling; screenshots are
kept (tests/web/page_checks.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from page_checks import WIDTHS, check_page
from PIL import Image
from tests.conftest import LiveServer
from web_support import PASSWORD

from hortus.config import Settings

pytestmark = [pytest.mark.browser]


def _photo(shared_data: Path, kind: str, n: int) -> Path:
    return sorted((shared_data / "oxford17" / kind).glob("*.jpg"))[n]


def _heic(source: Path, target: Path) -> Path:
    """A real HEIC photo made now from a real photo (photos are never committed)."""
    import pillow_heif

    with Image.open(source) as image:
        out = io.BytesIO()
        pillow_heif.from_pillow(image).save(out, quality=85)
    target.write_bytes(out.getvalue())
    return target


@pytest.mark.parametrize("width", list(WIDTHS))
def test_identify_flows_in_a_browser(browser, settings: Settings, shared_data: Path,  # type: ignore[no-untyped-def]
                                     tmp_path: Path, width: str) -> None:
    from playwright.sync_api import expect

    shot = f"identify-{width}"
    with LiveServer(settings) as server:
        page = browser.new_page(viewport={"width": WIDTHS[width], "height": 900})
        page.set_default_timeout(30000)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        # Signed out: the form, and what an account adds.
        page.goto(server.url + "/identify")
        expect(page.get_by_role("heading", name="Without an account")).to_be_visible()
        check_page(page, f"{shot}-form-signed-out")

        # Two photos from the picker, one from the camera input: one list, each with its organ.
        page.set_input_files("#images", [str(_photo(shared_data, "sunflower", 3)),
                                         str(_photo(shared_data, "sunflower", 8))])
        page.set_input_files("#camera", str(_photo(shared_data, "sunflower", 12)))
        chosen = page.locator("#chosen li")
        expect(chosen).to_have_count(3)
        expect(page.locator("#chosen-status")).to_contain_text("3 photos chosen")
        page.get_by_label("Photo 1 shows").select_option("flower")
        page.get_by_role("button", name="Remove photo 3").click()
        expect(chosen).to_have_count(2)
        check_page(page, f"{shot}-form-chosen")
        page.get_by_role("button", name="Identify", exact=True).click()
        page.wait_for_url("**/identify/results/*")
        result_url = page.url
        expect(page.get_by_role("heading", level=1)).to_contain_text("Sunflower")
        expect(page.locator(".your-photos img")).to_have_count(2)
        assert "Helianthus annuus" in page.inner_text("main")
        check_page(page, f"{shot}-result")

        # Back, forward and reload: the result is a page of its own (no resubmission).
        page.go_back()
        expect(page.get_by_role("heading", name="Identify a plant")).to_be_visible()
        page.go_forward()
        assert page.url == result_url
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Sunflower")
        assert not dialogs, dialogs

        # A daisy and a daffodil as "one plant": the page says the photos disagree.
        page.goto(server.url + "/identify")
        page.set_input_files("#images", [str(_photo(shared_data, "daisy", 5)),
                                         str(_photo(shared_data, "daffodil", 5))])
        page.get_by_role("button", name="Identify", exact=True).click()
        page.wait_for_url("**/identify/results/*")
        expect(page.get_by_role("heading", name="The photos may not show one plant")) \
            .to_be_visible()
        check_page(page, f"{shot}-result-disagree")

        # A file that is no photo: the form again, saying why.
        bad = tmp_path / "notes.jpg"
        bad.write_bytes(b"not a photo at all")
        page.goto(server.url + "/identify")
        page.set_input_files("#images", str(bad))
        page.get_by_role("button", name="Identify", exact=True).click()
        expect(page.get_by_role("alert")).to_contain_text("is not a photo Hortus can read")
        check_page(page, f"{shot}-form-error")
        page.goto(server.url + "/identify/results/no-such-result-here")
        check_page(page, f"{shot}-result-missing")

        # Sign up, sign in: land on the identify page, not the API keys page.
        email = f"new-{width}@example.org"
        page.goto(server.url + "/signup")
        page.get_by_label("E-mail address").fill(email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("status")).to_contain_text("your account is ready")
        page.get_by_label("E-mail address").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/identify")
        expect(page.get_by_role("heading", name="Your identifications")).to_be_visible()
        check_page(page, f"{shot}-form-signed-in")

        # An iPhone photo (HEIC).
        heic = _heic(_photo(shared_data, "sunflower", 3), tmp_path / "IMG_0042.HEIC")
        page.set_input_files("#images", str(heic))
        expect(page.locator("#chosen li")).to_have_count(1)
        page.get_by_role("button", name="Identify", exact=True).click()
        page.wait_for_url("**/identify/results/*")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Sunflower")
        shown = page.locator(".your-photos img").first
        expect(shown).to_be_visible()
        assert page.evaluate("(img) => img.naturalWidth", shown.element_handle()) > 0

        # The history lists it; open it, delete it.
        page.get_by_role("link", name="History").click()
        expect(page.get_by_role("heading", name="Your identifications")).to_be_visible()
        expect(page.locator("ol.history li")).to_have_count(1)
        check_page(page, f"{shot}-history")
        page.locator("ol.history a").first.click()
        page.wait_for_url("**/identify/results/*")
        page.get_by_text("Delete this identification").click()
        check_page(page, f"{shot}-result-delete-open")
        page.get_by_role("button", name="Delete it and its photos").click()
        expect(page.get_by_role("status")).to_contain_text("were deleted")
        expect(page.locator("ol.history li")).to_have_count(0)
        check_page(page, f"{shot}-history-empty")
        page.close()
