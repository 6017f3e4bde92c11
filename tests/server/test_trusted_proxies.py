"""Behind a reverse proxy: forwarding headers are believed from trusted proxies only.

The app is called with a chosen connection peer (the ASGI client address), as a proxy on the
private network (10.0.0.5, trusted) or as anyone else (198.51.100.20): an API key's authorized
IPs, sign-in throttling, ``Secure`` cookies and the absolute URLs of an identification follow
the client the trusted proxy names, and ignore what an untrusted peer claims. A live
``hortus serve`` does the same, and logs the client, not the proxy.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from tests.conftest import make_key

from hortus.accounts import service as accounts
from hortus.accounts.keys import NewKey
from hortus.app import create_app
from hortus.bootstrap import prepare_database
from hortus.config import Settings
from hortus.server.forwarded import (
    TrustedProxies,
    client_hop,
    forwarded_hops,
    parse_address,
    x_forwarded_hops,
)

PROXY = ("10.0.0.5", 40000)  # a trusted proxy (in 10.0.0.0/24)
STRANGER = ("198.51.100.20", 40000)  # not trusted
CLIENT_IP = "203.0.113.7"  # the key's one authorized IP


def _settings(settings: Settings, **overrides: object) -> Settings:
    values = {"data_dir": settings.data_dir, "database_url": settings.database_url,
              "environment": "test", "models_dir": settings.models_dir, "warm_up_engine": False,
              "trusted_proxies": ["10.0.0.0/24"], **overrides}
    return Settings(**values)


@contextmanager
def _clients(settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    """One app, reached through the trusted proxy and directly by a stranger."""
    app = create_app(settings)
    with TestClient(app, client=PROXY, follow_redirects=False) as proxied:
        yield proxied, TestClient(app, client=STRANGER, follow_redirects=False)


def _exposed_key(settings: Settings) -> NewKey:
    """A key for browser apps: without an Origin it is only accepted from CLIENT_IP."""
    key = make_key(settings)
    database = prepare_database(settings)
    try:
        with database.write() as session:
            account = accounts.get_or_create_account(session=session,
                                                     email="gardener@example.org")
            accounts.set_exposure(session=session, account=account, key_id=key.key_id,
                                  expose=True, domains="app.example.org", ips=CLIENT_IP)
    finally:
        database.dispose()
    return key


def _quota(client: TestClient, key: NewKey, headers: dict[str, str]) -> int:
    return client.get("/v2/quota", params={"api-key": key.api_key}, headers=headers).status_code


def test_authorized_ips_are_the_client_a_trusted_proxy_names(any_settings: Settings) -> None:
    settings = _settings(any_settings)
    key = _exposed_key(settings)
    with _clients(settings) as (proxied, stranger):
        assert _quota(proxied, key, {"X-Forwarded-For": CLIENT_IP}) == 200
        # Two trusted proxies in a row: the client is the first address no proxy of ours has.
        assert _quota(proxied, key, {"X-Forwarded-For": f"{CLIENT_IP}, 10.0.0.9"}) == 200
        # What the client wrote itself (left of the address our proxy appended) is ignored.
        assert _quota(proxied, key, {"X-Forwarded-For": f"{CLIENT_IP}, 192.0.2.1"}) == 403
        assert _quota(proxied, key, {}) == 403  # the proxy itself is not the client
        # A stranger's forwarding headers are not believed.
        assert _quota(stranger, key, {"X-Forwarded-For": CLIENT_IP}) == 403
        assert _quota(stranger, key, {"Forwarded": f"for={CLIENT_IP}"}) == 403


def test_rfc_7239_forwarded_when_the_proxies_send_it(settings: Settings) -> None:
    settings = _settings(settings, forwarded_header="forwarded")
    key = _exposed_key(settings)
    with _clients(settings) as (proxied, stranger):
        assert _quota(proxied, key, {"Forwarded": f'for="{CLIENT_IP}:5123";proto=https'}) == 200
        assert _quota(proxied, key, {"Forwarded": f"for={CLIENT_IP}, for=10.0.0.9"}) == 200
        assert _quota(proxied, key, {"Forwarded": f"for={CLIENT_IP}, for=192.0.2.1"}) == 403
        # In this mode X-Forwarded-For is whatever the client sent: never read.
        assert _quota(proxied, key, {"X-Forwarded-For": CLIENT_IP}) == 403
        assert _quota(stranger, key, {"Forwarded": f"for={CLIENT_IP}"}) == 403


def test_without_trusted_proxies_no_header_is_read(settings: Settings) -> None:
    settings = _settings(settings, trusted_proxies=[])
    key = _exposed_key(settings)
    with _clients(settings) as (proxied, _):
        assert _quota(proxied, key, {"X-Forwarded-For": CLIENT_IP}) == 403


def _cookie(client: TestClient, headers: dict[str, str]) -> str:
    """The session cookie a new visitor is given."""
    client.cookies.clear()
    answer = client.get("/login", headers=headers)
    assert answer.status_code == 200
    return answer.headers["set-cookie"]


def _is_secure(set_cookie: str) -> bool:
    return "secure" in [part.strip().lower() for part in set_cookie.split(";")]


def test_session_cookie_is_secure_when_the_client_came_over_https(settings: Settings) -> None:
    with _clients(_settings(settings)) as (proxied, stranger):
        assert _is_secure(_cookie(proxied, {"X-Forwarded-Proto": "https",
                                            "X-Forwarded-For": CLIENT_IP}))
        assert not _is_secure(_cookie(proxied, {"X-Forwarded-Proto": "http",
                                                "X-Forwarded-For": CLIENT_IP}))
        assert not _is_secure(_cookie(proxied, {}))
        assert not _is_secure(_cookie(stranger, {"X-Forwarded-Proto": "https"}))


def test_session_cookie_is_secure_when_the_public_url_is_https(settings: Settings) -> None:
    public = _settings(settings, trusted_proxies=[], public_url="https://plants.example.org")
    with _clients(public) as (_, stranger):
        assert _is_secure(_cookie(stranger, {}))
    plain = _settings(settings, trusted_proxies=[], public_url="http://plants.example.org")
    with _clients(plain) as (_, stranger):
        assert not _is_secure(_cookie(stranger, {"X-Forwarded-Proto": "https"}))


def _csrf(client: TestClient, headers: dict[str, str]) -> str:
    page = client.get("/login", headers=headers).text
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _sign_in(client: TestClient, email: str, headers: dict[str, str]) -> int:
    token = _csrf(client, headers)
    return client.post("/login", headers=headers, data={
        "email": email, "password": "Wrong-Password-1", "csrf_token": token}).status_code


def test_sign_in_throttling_counts_the_forwarded_client(settings: Settings) -> None:
    # An address may fail 4 x SIGN_IN_FREE_FAILURES times (here 4), then waits.
    settings = _settings(settings, sign_in_free_failures=1, sign_in_max_delay=30)
    alice, bob = {"X-Forwarded-For": "192.0.2.10"}, {"X-Forwarded-For": "192.0.2.11"}
    with _clients(settings) as (proxied, stranger):
        statuses = [_sign_in(proxied, f"user{n}@example.org", alice) for n in range(6)]
        assert statuses[:5] == [400] * 5 and statuses[5] == 429, statuses
        # Another client behind the same proxy is not held back by the first one's failures.
        assert _sign_in(proxied, "someone@example.org", bob) == 400
        # A stranger's claimed addresses count as the stranger's own.
        statuses = [_sign_in(stranger, f"other{n}@example.org", {"X-Forwarded-For": f"192.0.2.{n}"})
                    for n in range(20, 26)]
        assert statuses[5] == 429, statuses


def test_absolute_urls_follow_the_trusted_proxy_or_the_public_url(
        settings: Settings, shared_data: Path) -> None:
    photo = sorted((shared_data / "oxford17" / "daffodil").glob("*.jpg"))[50].read_bytes()
    key = make_key(settings)
    forwarded = {"X-Forwarded-For": CLIENT_IP, "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "plants.example.org"}

    def urls(client: TestClient) -> list[str]:
        answer = client.post("/v2/identify/all", params={
            "api-key": key.api_key, "include-related-images": "true", "nb-results": "3"},
            files=[("images", ("daffodil.jpg", photo, "image/jpeg"))],
            data={"organs": "flower"}, headers=forwarded)
        assert answer.status_code == 200, answer.text
        found = []
        for result in answer.json()["results"]:
            if result.get("plant"):
                found.append(result["plant"]["url"])
            found.extend(url for image in result["images"] for url in image["url"].values())
        assert found
        return found

    with _clients(_settings(settings)) as (proxied, stranger):
        assert all(u.startswith("https://plants.example.org/") for u in urls(proxied))
        assert all(u.startswith("http://testserver/") for u in urls(stranger))
    public = _settings(settings, public_url="https://hortus.example.net:8443")
    with _clients(public) as (proxied, stranger):
        for client in (proxied, stranger):
            assert all(u.startswith("https://hortus.example.net:8443/") for u in urls(client))


def test_forwarding_chains_are_read_from_the_right() -> None:
    trusted = TrustedProxies(["10.0.0.0/8", "2001:db8:1::/48"])

    def client(*chain: str) -> str | None:
        found = client_hop(x_forwarded_hops(chain, [], []), trusted)
        return str(found[1]) if found else None

    assert client("203.0.113.7") == "203.0.113.7"
    assert client("1.1.1.1, 203.0.113.7, 10.1.2.3") == "203.0.113.7"
    assert client("10.0.0.1, 10.0.0.2") == "10.0.0.1"  # all trusted: the left-most
    assert client("203.0.113.7:5123") == "203.0.113.7"
    assert client("[2001:db8::7]:443", "2001:db8:1::9") == "2001:db8::7"
    assert client("::ffff:203.0.113.7") == "203.0.113.7"
    assert client("203.0.113.7, unknown") is None  # the nearest proxy hid its client
    assert client("garbage, 10.0.0.1") == "10.0.0.1"  # trust stops at what is no address
    assert client() is None
    hops = forwarded_hops(['for=192.0.2.60;proto=http;by=203.0.113.43, '
                           'For="[2001:db8:cafe::17]:4711";proto=https;host="a.example"'])
    assert [(h.address, h.proto, h.host) for h in hops] == [
        ("192.0.2.60", "http", None), ("[2001:db8:cafe::17]:4711", "https", "a.example")]
    assert forwarded_hops(['for="a,b;c";proto=https']) == forwarded_hops(
        ['for="a,b;c";proto=https'])
    assert forwarded_hops(['for="a,b;c";proto=https'])[0].address == "a,b;c"
    # Proto lists as long as the chain are read hop by hop; otherwise the nearest proxy's.
    aligned = x_forwarded_hops(["203.0.113.7, 10.0.0.1"], ["https, http"], [])
    assert [h.proto for h in aligned] == ["https", "http"]
    assert [h.proto for h in x_forwarded_hops(["203.0.113.7, 10.0.0.1"], ["https"], [])] == \
        ["https", "https"]
    assert parse_address("not an address") is None


def test_settings_refuse_what_is_not_an_address_or_a_public_url() -> None:
    assert Settings(trusted_proxies="10.0.0.5, 192.168.0.0/16").trusted_proxies == [
        "10.0.0.5/32", "192.168.0.0/16"]
    assert Settings(trusted_proxies='["::1"]').trusted_proxies == ["::1/128"]
    assert Settings(public_url="HTTPS://Plants.Example.org/").public_url == \
        "https://plants.example.org"
    for bad in ({"trusted_proxies": "proxy.example.org"},
                {"public_url": "https://plants.example.org/hortus"},
                {"public_url": "ftp://plants.example.org"},
                {"forwarded_header": "x-real-ip"}):
        with pytest.raises(ValidationError):
            Settings(**bad)


def _get(port: int, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def test_hortus_serve_reads_forwarding_headers_from_trusted_proxies_only(serve) -> None:
    # Behind a proxy on this machine (nginx on 127.0.0.1) ...
    behind = serve("behind", trusted_proxies="127.0.0.1", log_level="info", log_format="json")
    key = _exposed_key(Settings(data_dir=behind.data_dir, environment="test"))
    path = "/v2/quota?api-key=" + urllib.parse.quote(key.api_key)
    forwarded = {"X-Forwarded-For": f"192.0.2.99, {CLIENT_IP}", "X-Request-ID": "via-proxy"}
    assert _get(behind.port, path, forwarded) == 200
    assert _get(behind.port, path, {}) == 403
    behind.stop()
    access = [json.loads(line) for line in behind.log().splitlines() if line.startswith("{")]
    logged = {e["request_id"]: e for e in access if e["logger"] == "uvicorn.access"}
    assert logged["via-proxy"]["client"].startswith(CLIENT_IP + ":")  # the client, not nginx

    # ... and without a trusted proxy: uvicorn's own default (trust 127.0.0.1) is off too.
    alone = serve("alone")
    key = _exposed_key(Settings(data_dir=alone.data_dir, environment="test"))
    path = "/v2/quota?api-key=" + urllib.parse.quote(key.api_key)
    assert _get(alone.port, path, {"X-Forwarded-For": CLIENT_IP}) == 403
