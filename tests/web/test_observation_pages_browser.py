"""Community review in headless Chromium at 1280 and 390 px, as two people use it: one identifies
a real sunflower photo and saves the result as an observation (the form on the result page),
finds it on its page and in "my observations"; another reviews it (one click to name it, a
misspelt name answered with the closest names) while a signed-out visitor only looks; then its
author deletes it, after a question. Every
page state passes axe-core with no violation and no sideways scrolling, every internal link
and image on these pages answers 200, and screenshots are kept (tests/web/page_checks.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from page_checks import WIDTHS, check_page
from tests.conftest import LiveServer
from web_support import PASSWORD

from hortus.config import Settings

pytestmark = [pytest.mark.browser]


def _sign_up_and_in(page: Any, url: str, email: str) -> None:
    page.goto(f"{url}/signup")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/login**")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/identify")


def _internal_links_answer(page: Any, url: str) -> None:
    """Every link and image of the page that stays on this server answers 200."""
    targets = page.evaluate("""() => [...document.querySelectorAll('a[href], img[src]')]
        .filter(e => !(e.getAttribute('href') || '').startsWith('#'))
        .map(e => e.href || e.src)""")
    for target in {t.split("#")[0] for t in targets if t.startswith(url)}:
        assert page.request.get(target).status == 200, target


@pytest.mark.parametrize("width", list(WIDTHS))
def test_save_review_and_follow_an_observation(browser: Any, settings: Settings,
                                               shared_data: Path, width: str) -> None:
    from playwright.sync_api import expect

    shot = f"observations-{width}"
    photo = sorted((shared_data / "oxford17" / "sunflower").glob("*.jpg"))[3]
    viewport = {"width": WIDTHS[width], "height": 900}
    with LiveServer(settings) as server:
        author = browser.new_context(viewport=viewport).new_page()
        author.set_default_timeout(30000)
        _sign_up_and_in(author, server.url, f"author-{width}@example.org")
        author.set_input_files("#images", str(photo))
        author.get_by_role("button", name="Identify", exact=True).click()
        author.wait_for_url("**/identify/results/*")

        # The form on the result page: the suggestions, "I don't know", licence, location.
        form = author.locator("#save-observation")
        expect(form.get_by_role("heading", name="Save as observation")).to_be_visible()
        expect(form.get_by_label("Licence for your photos")).to_have_value("cc-by-sa")
        form.get_by_label(re.compile(r"^Sunflower")).check()
        form.get_by_label("Latitude").fill("abc")
        form.get_by_label("Longitude").fill("2.35")
        check_page(author, f"{shot}-save-form")
        form.get_by_role("button", name="Save as observation").click()
        expect(author.get_by_role("alert")).to_contain_text("The latitude must be a number")
        check_page(author, f"{shot}-save-form-error")
        author.get_by_label("Latitude").fill("48.85")
        author.get_by_label("Licence for your photos").select_option("cc-by")
        author.get_by_role("button", name="Save as observation").click()
        author.wait_for_url(re.compile(r".*/observations/\d+\?notice=saved$"))
        observation_url = author.url.split("?")[0]
        expect(author.get_by_role("status")).to_contain_text("Saved as an observation")
        expect(author.get_by_role("heading", level=1)).to_contain_text("Sunflower")
        expect(author.locator(".observation-photos img").first).to_be_visible()
        author.wait_for_function("""() => [...document.querySelectorAll('.observation-photos img')]
            .every(img => img.complete && img.naturalWidth > 0)""")  # the photos are shown
        expect(author.get_by_role("link", name="CC BY 4.0").first).to_be_visible()
        check_page(author, f"{shot}-observation-own")
        _internal_links_answer(author, server.url)

        author.get_by_role("link", name="My observations").first.click()
        expect(author.get_by_role("heading", name="My observations")).to_be_visible()
        expect(author.locator("ol.observation-list li")).to_have_count(1)
        expect(author.locator("ol.observation-list")).to_contain_text("Not valid yet")
        check_page(author, f"{shot}-mine")
        _internal_links_answer(author, server.url)

        # A signed-out visitor may look at the queue, not vote.
        visitor = browser.new_context(viewport=viewport).new_page()
        visitor.goto(f"{server.url}/review")
        expect(visitor.get_by_role("heading", name="Observations to review")).to_be_visible()
        expect(visitor.get_by_role("button", name=re.compile("Agree"))).to_have_count(0)
        check_page(visitor, f"{shot}-review-signed-out")
        _internal_links_answer(visitor, server.url)

        # A reviewer agrees in one click, then proposes a misspelt name and picks from the
        # closest ones.
        reviewer = browser.new_context(viewport=viewport).new_page()
        reviewer.set_default_timeout(30000)
        _sign_up_and_in(reviewer, server.url, f"reviewer-{width}@example.org")
        reviewer.get_by_role("link", name="Review", exact=True).click()
        card = reviewer.locator("article.observation").first
        expect(card.get_by_role("heading", level=2)).to_contain_text("Sunflower")
        check_page(reviewer, f"{shot}-review")
        card.get_by_role("button", name="Agree: Sunflower").click()
        expect(reviewer.get_by_role("status")).to_contain_text("Your vote was counted")
        card = reviewer.locator("article.observation").first
        expect(card).to_contain_text("You voted: Helianthus annuus")
        expect(card.get_by_role("button", name="Agree: Sunflower")).to_have_count(0)
        check_page(reviewer, f"{shot}-review-voted")
        card.get_by_label("Propose another species").fill("sunflowr")
        card.get_by_role("button", name="Propose").click()
        expect(reviewer.get_by_role("heading", name="Which species did you mean?")) \
            .to_be_visible()
        check_page(reviewer, f"{shot}-propose")
        _internal_links_answer(reviewer, server.url)
        reviewer.get_by_role("button", name="Vote Sunflower").click()
        expect(reviewer.get_by_role("status")).to_contain_text("nothing changed")

        # The observation's page for the reviewer: the votes so far, and the photo votes.
        reviewer.goto(observation_url)
        expect(reviewer.locator("body")).to_contain_text("2 votes")
        reviewer.get_by_label("Photo 1 shows").select_option("flower")
        reviewer.get_by_role("button", name="Vote the part").click()
        expect(reviewer.get_by_role("status")).to_contain_text("Your vote was counted")
        reviewer.get_by_role("button", name="Good").click()
        expect(reviewer.locator(".photo-votes")).to_contain_text("1 good, 0 poor")
        check_page(reviewer, f"{shot}-observation")
        _internal_links_answer(reviewer, server.url)

        # The author deletes it, after a question of its own.
        author.goto(observation_url)
        author.get_by_role("link", name="Delete this observation").click()
        expect(author.get_by_role("heading", level=1)).to_contain_text("Delete observation")
        check_page(author, f"{shot}-delete-question")
        author.get_by_role("button", name="Delete it").click()
        author.wait_for_url("**/observations/mine?notice=deleted")
        expect(author.get_by_role("status")).to_contain_text("was deleted")
        expect(author.locator("ol.observation-list li")).to_have_count(0)
        assert author.request.get(observation_url).status == 404
        for page in (author, visitor, reviewer):
            page.context.close()
