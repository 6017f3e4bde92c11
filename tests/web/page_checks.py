"""Checks of a page in headless Chromium: axe-core's accessibility rules, no sideways
scrolling, and a screenshot kept as a test artifact.

axe-core comes from the ``axe-playwright-python`` package (its bundled ``axe.min.js``); the
tests that use it skip when it is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("HORTUS_SCREENSHOTS", REPO / "build" / "screenshots"))
WIDTHS = {"desktop": 1280, "phone": 390}


def axe_script() -> str:
    axe = pytest.importorskip("axe_playwright_python",
                              reason="needs axe-playwright-python (axe-core) for the checks")
    return Path(axe.__file__).with_name("axe.min.js").read_text(encoding="utf-8")


def axe_violations(page: Any) -> list[str]:
    """axe-core's violations on the page as it is now, one line each (rule, impact, where)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_script())  # through DevTools: the page's CSP does not apply
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            f"{[n['target'] for n in v['nodes']][:3]}" for v in result["violations"]]


def overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0: no sideways scrolling)."""
    return int(page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"))


def check_page(page: Any, name: str) -> Path:
    """Assert no axe violation and no sideways scrolling; save a full-page screenshot."""
    violations = axe_violations(page)
    assert not violations, f"{name}: {violations}"
    assert overflow(page) <= 0, f"{name} scrolls sideways by {overflow(page)} px"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
