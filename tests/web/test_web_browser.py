"""The pages in a real headless Chromium: sign up, generate a key, expose it, add a domain,
call the API from another site's page (CORS), and see the usage.

Skipped when Debian's chromium is not installed at /usr/bin/chromium.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from accounts_support import make_settings
from tests.conftest import LiveServer
from web_support import PASSWORD

from hortus.app import create_app

pytestmark = [pytest.mark.browser]

# A third-party page: calls the plant database and the identification API with the key given
# in the URL fragment, and writes what happened into #result.
CLIENT_PAGE = """<!doctype html><meta charset="utf-8"><title>garden app</title>
<pre id="result">pending</pre>
<script>
(async () => {
  const [api, keyId, secret, apiKey] = location.hash.slice(1).split("|");
  const out = [];
  try {
    const r = await fetch(api + "/api/plants?per_page=1", {headers: {
      "x-permapeople-key-id": keyId, "x-permapeople-key-secret": secret}});
    out.push("plants " + r.status + " " + (r.headers.get("RateLimit") || "no-ratelimit"));
  } catch (e) { out.push("plants blocked"); }
  try {
    const r = await fetch(api + "/v2/quota?api-key=" + encodeURIComponent(apiKey));
    const body = await r.json();
    out.push("quota " + r.status + " " + body.quota.identify.total);
  } catch (e) { out.push("quota blocked"); }
  document.getElementById("result").textContent = out.join("\\n");
})();
</script>"""


class _ClientPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = CLIENT_PAGE.encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def client_site() -> Iterator[int]:
    """A static third-party site on its own port (reachable as localhost and 127.0.0.1)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClientPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()



def test_sign_up_generate_expose_and_use_from_a_browser_app(tmp_path: Path, browser,  # type: ignore[no-untyped-def]
                                                            client_site: int) -> None:
    from playwright.sync_api import expect

    settings = make_settings(tmp_path / "data", identify_per_day=321)
    with LiveServer(create_app(settings)) as server:
        page = browser.new_page()
        page.set_default_timeout(15000)
        # Sign up.
        page.goto(f"{server.url}/signup")
        page.get_by_label("E-mail address").fill("gardener@example.org")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        # Sign-up does not sign in (its answer must not tell whether the address was taken).
        expect(page.get_by_role("status")).to_contain_text("your account is ready")
        page.get_by_label("E-mail address").fill("gardener@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        # Sign-in lands on the identify page; the keys are one link away.
        expect(page.get_by_role("heading", name="Identify a plant")).to_be_visible()
        page.get_by_role("link", name="API keys").click()
        expect(page.get_by_role("heading", name="Your API key")).to_be_visible()

        # Generate a key: shown once.
        page.get_by_label("Label").fill("garden app")
        page.get_by_role("button", name="Generate a new key").click()
        api_key = page.locator("#new-api-key").inner_text().strip()
        key_id = page.locator("#new-key-id").inner_text().strip()
        secret = page.locator("#new-key-secret").inner_text().strip()
        assert api_key == f"{key_id}.{secret}"
        page.reload()
        assert secret not in page.content()

        # Expose it, authorizing the app's domain (a bad line first: a clear error).
        section = page.locator(f"#key-{key_id}")
        section.get_by_label("Expose my API key").check()
        section.get_by_label("Authorized domains").fill("not a domain")
        section.get_by_role("button", name="Save browser access").click()
        expect(page.get_by_role("alert")).to_contain_text("Authorized domains: line 1")
        section = page.locator(f"#key-{key_id}")
        section.get_by_label("Authorized domains").fill(f"http://localhost:{client_site}")
        section.get_by_role("button", name="Save browser access").click()
        expect(page.get_by_role("status")).to_contain_text("exposure settings were saved")
        expect(page.locator(f"#key-{key_id} .meta")).to_contain_text("exposed")

        # The authorized site can call the APIs from the browser (CORS, preflight included).
        fragment = f"#{server.url}|{key_id}|{secret}|{api_key}"
        app_page = browser.new_page()
        app_page.goto(f"http://localhost:{client_site}/{fragment}")
        expect(app_page.locator("#result")).not_to_have_text("pending")
        result = app_page.locator("#result").inner_text()
        assert 'plants 200 "day";r=' in result, result
        assert "quota 200 321" in result, result

        # Another origin (127.0.0.1 is not localhost to a browser) is refused.
        other = browser.new_page()
        other.goto(f"http://127.0.0.1:{client_site}/{fragment}")
        expect(other.locator("#result")).not_to_have_text("pending")
        assert other.locator("#result").inner_text() == "plants blocked\nquota blocked"

        # The usage shows the one plant-database request that was served.
        page.goto(f"{server.url}/settings/api-key")
        row = page.locator('#usage tr[data-api="plants"]')
        expect(row.locator("td.today")).to_have_text("1")
        expect(page.locator('#usage tr[data-api="identify"] td.remaining')).to_have_text("321")

        # Sign out.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
