"""The three APIs' authentication over real HTTP: 401/403/429 formats, quotas, CORS, exposure."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from accounts_support import make_key, make_settings
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from tests.conftest import LiveServer

from hortus.accounts import quotas, service
from hortus.accounts.deps import PeatCallerDep, PlantnetCallerDep
from hortus.app import create_app
from hortus.config import Settings
from hortus.db import Database

SEED_401 = {"error": "not authenticated",
            "msg": "Please check your x-permapeople-key-id and x-permapeople-key-secret http "
                   "headers."}
APP_ORIGIN = "https://app.example.org"


def pp_headers(owner: Any, **extra: str) -> dict[str, str]:
    return {"x-permapeople-key-id": owner.key.key_id,
            "x-permapeople-key-secret": owner.key.key_secret, **extra}


def test_plant_database_401_is_the_seed_body(acct_client: TestClient, acct_db: Database) -> None:
    owner = make_key(acct_db)
    for headers in ({}, {"x-permapeople-key-id": owner.key.key_id},
                    {"x-permapeople-key-id": owner.key.key_id,
                     "x-permapeople-key-secret": "wrong"}):
        answer = acct_client.get("/api/plants", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == SEED_401
        assert "access-control-allow-origin" not in answer.headers


def test_plant_writes_and_search_ask_for_the_key_before_judging_the_body(
        acct_client: TestClient, acct_db: Database) -> None:
    owner = make_key(acct_db)
    wrong = {"x-permapeople-key-id": owner.key.key_id, "x-permapeople-key-secret": "x" * 43}
    for headers in ({}, wrong):
        for method, path in (("POST", "/api/plants"), ("PUT", "/api/plants/1"),
                             ("POST", "/api/search")):
            for body, content_type in ((b"{not json", "application/json"),
                                       (b"q=apple", "text/plain"), (b"x" * 2_000_000, None)):
                answer = acct_client.request(method, path, content=body, headers={
                    **headers, **({"content-type": content_type} if content_type else {})})
                assert answer.status_code == 401, (method, path, answer.text[:200])
                assert answer.json() == SEED_401
    # With the key, the body is judged as before.
    bad = acct_client.post("/api/plants", content=b"{not json",
                           headers={**pp_headers(owner), "content-type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"] == "malformed json"


def test_plant_database_counts_and_sends_rate_limit_headers(
        acct_client: TestClient, acct_db: Database, acct_settings: Settings) -> None:
    acct_settings.plants_per_day = 2
    owner = make_key(acct_db)
    first = acct_client.get("/api/plants", headers=pp_headers(owner))
    assert first.status_code == 200
    assert first.headers["ratelimit-policy"] == '"day";q=2;w=86400'
    assert first.headers["ratelimit"].startswith('"day";r=1;t=')
    missing = acct_client.get("/api/plants/999999", headers=pp_headers(owner))
    assert missing.status_code == 404  # the caller's error: its unit is given back
    assert missing.headers["ratelimit"].startswith('"day";r=1;t=')
    second = acct_client.get("/api/plants", headers=pp_headers(owner))
    assert second.status_code == 200
    assert second.headers["ratelimit"].startswith('"day";r=0;t=')
    refused = acct_client.get("/api/plants", headers=pp_headers(owner))
    assert refused.status_code == 429
    body = refused.json()
    assert set(body) == {"error", "msg"} and body["error"] == "too many requests"
    assert "00:00 UTC" in body["msg"]
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["ratelimit"].startswith('"day";r=0;t=')
    assert "ratelimit-policy" in refused.headers
    # One account's quota is shared by its keys.
    with acct_db.write() as session:
        account = service.get_account(session=session, email=owner.email)
        second_key = service.create_key(session=session, account=account)
    other = type(owner)(email=owner.email, account_id=owner.account_id, key=second_key)
    assert acct_client.get("/api/plants", headers=pp_headers(other)).status_code == 429


def test_revoked_key_stops_working_everywhere(acct_client: TestClient, acct_db: Database) -> None:
    owner = make_key(acct_db)
    assert acct_client.get("/api/plants", headers=pp_headers(owner)).status_code == 200
    assert acct_client.get("/v2/quota", params={"api-key": owner.key.api_key}).status_code == 200
    with acct_db.write() as session:
        account = service.get_account(session=session, email=owner.email)
        service.revoke_key(session=session, account=account, key_id=owner.key.key_id)
    assert acct_client.get("/api/plants", headers=pp_headers(owner)).json() == SEED_401
    assert acct_client.get("/v2/quota", params={"api-key": owner.key.api_key}).status_code == 401


def test_a_key_changed_by_another_process_is_seen_within_the_cache_ttl(
        acct_client: TestClient, acct_db: Database) -> None:
    """Keys are remembered for keycache.TTL_SECONDS; a change made behind this process's back
    (here: straight SQL, as the CLI or another worker would) shows once that has passed. The
    secret is checked on every request, remembered or not."""
    from sqlalchemy import text

    from hortus.accounts import keycache

    owner = make_key(acct_db)
    params = {"api-key": owner.key.api_key}
    assert acct_client.get("/v2/quota", params=params).status_code == 200  # now remembered
    wrong = {"api-key": f"{owner.key.key_id}.{'x' * 43}"}
    assert acct_client.get("/v2/quota", params=wrong).status_code == 401
    with acct_db.write() as session:
        session.execute(text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP "
                             "WHERE key_id = :key_id"), {"key_id": owner.key.key_id})
    deadline = time.monotonic() + keycache.TTL_SECONDS + 2
    while acct_client.get("/v2/quota", params=params).status_code == 200:
        assert time.monotonic() < deadline, "a revoked key kept working past the cache TTL"
        time.sleep(0.05)
    assert acct_client.get("/api/plants", headers=pp_headers(owner)).json() == SEED_401


def test_unexposed_key_sends_no_cors_headers_and_pl_ntnet_refuses_browsers(
        acct_client: TestClient, acct_db: Database) -> None:
    owner = make_key(acct_db)
    plain = acct_client.get("/api/plants", headers=pp_headers(owner))
    assert plain.status_code == 200
    assert not any(h.startswith("access-control-") for h in plain.headers)
    # Pl@ntNet's own rule: a private key is refused from a web page.
    from_page = acct_client.get("/v2/quota", params={"api-key": owner.key.api_key},
                                headers={"origin": APP_ORIGIN})
    assert from_page.status_code == 403
    assert from_page.json()["message"].startswith("This API key is private")
    assert "access-control-allow-origin" not in from_page.headers


def test_peat_and_permapeople_serve_a_private_key_that_carries_an_origin(
        acct_client: TestClient, acct_db: Database) -> None:
    """Webviews and server-side proxies send an Origin; PEAT and Permapeople have no rule
    against it. The answer carries no CORS headers, so a browser page still cannot read it."""
    owner = make_key(acct_db)
    for origin in (APP_ORIGIN, "null", "http://localhost:3000"):
        plants = acct_client.get("/api/plants", headers=pp_headers(owner, origin=origin))
        assert plants.status_code == 200, plants.text
        assert "plants" in plants.json()
        assert not any(h.startswith("access-control-") for h in plants.headers)
        searched = acct_client.post("/api/search", json={"q": "tomato"},
                                    headers=pp_headers(owner, origin=origin))
        assert searched.status_code == 200, searched.text
        catalogue = acct_client.get("/v1/diseases", headers={
            "Api-Key": owner.key.api_key, "Origin": origin})
        assert catalogue.status_code == 200, catalogue.text
        assert not any(h.startswith("access-control-") for h in catalogue.headers)


def test_exposed_key_accepts_only_its_domains_for_cors(acct_client: TestClient,
                                                       acct_db: Database) -> None:
    owner = make_key(acct_db, expose=True, domains="app.example.org\n*.garden.test")
    ok = acct_client.get("/api/plants", headers=pp_headers(owner, origin=APP_ORIGIN))
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "Origin" in ok.headers["vary"]
    assert "RateLimit" in ok.headers["access-control-expose-headers"]
    sub = acct_client.get("/api/plants", headers=pp_headers(owner, origin="http://x.garden.test"))
    assert sub.headers["access-control-allow-origin"] == "http://x.garden.test"
    for origin in ("https://evil.example", "https://example.org", "null", "https://garden.test"):
        refused = acct_client.get("/api/plants", headers=pp_headers(owner, origin=origin))
        assert refused.status_code == 403, origin
        assert refused.json()["error"] == "origin not authorized"
        assert "access-control-allow-origin" not in refused.headers


def test_exposed_key_without_origin_needs_an_authorized_ip(acct_app: FastAPI) -> None:
    with TestClient(acct_app, client=("203.0.113.9", 40000)) as client:
        db = acct_app.state.database
        no_ips = make_key(db, expose=True, domains="app.example.org")
        answer = client.get("/api/plants", headers=pp_headers(no_ips))
        assert answer.status_code == 403 and answer.json()["error"] == "ip not authorized"
        in_range = make_key(db, expose=True, domains="app.example.org", ips="203.0.113.0/24")
        assert client.get("/api/plants", headers=pp_headers(in_range)).status_code == 200
        elsewhere = make_key(db, expose=True, ips="198.51.100.7\n10.0.0.0/8")
        assert client.get("/api/plants", headers=pp_headers(elsewhere)).status_code == 403
        # Refused requests take no quota.
        assert quotas.peek(database=db, settings=acct_app.state.settings,
                           account_id=no_ips.account_id, api="plants").used == 0


def _preflight(client: TestClient, url: str, origin: str, **params: str) -> httpx.Response:
    return client.options(url, params=params, headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "x-permapeople-key-id, x-permapeople-key-secret"})


def test_preflights(acct_client: TestClient, acct_db: Database) -> None:
    exposed = make_key(acct_db, expose=True, domains=APP_ORIGIN)
    private = make_key(acct_db, expose=False, domains="private.example.org")
    # Header-key APIs: any live exposed key authorizing the origin.
    ok = _preflight(acct_client, "/api/search", APP_ORIGIN)
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert "x-permapeople-key-id" in ok.headers["access-control-allow-headers"]
    refused = _preflight(acct_client, "/api/search", "https://private.example.org")
    assert refused.status_code == 403 and set(refused.json()) == {"error", "msg"}
    assert "access-control-allow-origin" not in refused.headers
    assert _preflight(acct_client, "/v1/image_analysis", APP_ORIGIN).status_code == 204
    # Pl@ntNet: the preflight carries the key, which must be exposed for that origin.
    assert _preflight(acct_client, "/v2/identify/all", APP_ORIGIN,
                      **{"api-key": exposed.key.api_key}).status_code == 204
    assert _preflight(acct_client, "/v2/identify/all", APP_ORIGIN,
                      **{"api-key": private.key.api_key}).status_code == 403
    assert _preflight(acct_client, "/v2/identify/all", APP_ORIGIN).status_code == 403
    assert _preflight(acct_client, "/v2/identify/all", "https://other.example",
                      **{"api-key": exposed.key.api_key}).status_code == 403
    # Revoked keys authorize nothing.
    with acct_db.write() as session:
        account = service.get_account(session=session, email=exposed.email)
        service.revoke_key(session=session, account=account, key_id=exposed.key.key_id)
    assert _preflight(acct_client, "/api/search", APP_ORIGIN).status_code == 403


def test_subscription_and_quota_views_over_http(acct_client: TestClient, acct_db: Database,
                                                acct_settings: Settings) -> None:
    acct_settings.identify_per_day = 50
    owner = make_key(acct_db, expose=True, domains="https://app.example.org:8443",
                     ips="192.0.2.10")
    assert acct_client.get("/v2/subscription").status_code == 401
    assert acct_client.get("/v2/subscription", params={"api-key": "hkx.nope"}).status_code == 401
    quotas.consume(database=acct_db, settings=acct_settings, account_id=owner.account_id,
                   api=quotas.API_IDENTIFY, amount=3)
    with TestClient(acct_client.app, client=("192.0.2.10", 1234)) as client:
        params = {"api-key": owner.key.api_key}
        subscription = client.get("/v2/subscription", params=params).json()
        assert subscription["security"] == {"exposeKey": True, "ips": ["192.0.2.10/32"],
                                            "domains": ["app.example.org:8443"]}
        # An exposed key is readable by any visitor of the page using it: never the e-mail.
        assert subscription["account"]["username"] == f"anonymous #{owner.account_id}"
        assert owner.email not in json.dumps(subscription)
        assert subscription["history"][0]["count"] == {"identify": 3}
        assert client.get("/v2/quota", params=params).json() == {
            "quota": {"identify": {"count": 3, "total": 50, "remaining": 47}}}
        daily = client.get("/v2/quota/daily", params={**params, "day": "2001-02-03"}).json()
        assert daily == {"day": "2001-02-03",
                         "quota": {"identify": {"count": 0, "total": 50, "remaining": 50}}}
        assert client.get("/v2/quota/daily", params={**params, "day": "yesterday"}
                          ).status_code == 400


def _header_api_app(settings: Settings) -> FastAPI:
    """The app plus two tiny routes that use the PEAT and Pl@ntNet dependencies."""
    app = create_app(settings)
    probe = APIRouter()

    @probe.get("/v1/_whoami")
    def peat_whoami(caller: PeatCallerDep) -> dict[str, int]:
        return {"account_id": caller.account_id}

    @probe.get("/v2/_whoami")
    def plantnet_whoami(caller: PlantnetCallerDep) -> dict[str, Any]:
        return {"account_id": caller.account_id, "email": caller.key.account.email}

    app.include_router(probe)
    return app


def test_peat_and_plantnet_dependencies(acct_settings: Settings) -> None:
    with TestClient(_header_api_app(acct_settings)) as client:
        owner = make_key(client.app.state.database)
        expected = {"account_id": owner.account_id}
        assert client.get("/v1/_whoami", headers={"Api-Key": owner.key.api_key}).json() == expected
        assert client.get("/v1/_whoami", headers={"api_key": owner.key.api_key}).json() == expected
        assert client.get("/v1/_whoami").status_code == 401
        assert client.get("/v1/_whoami", headers={"Api-Key": owner.key.key_id}).status_code == 401
        mine = client.get("/v2/_whoami", params={"api-key": owner.key.api_key}).json()
        assert mine == {**expected, "email": owner.email}
        assert client.get("/v2/_whoami",
                          headers={"origin": APP_ORIGIN},
                          params={"api-key": owner.key.api_key}).status_code == 403


def test_200_concurrent_http_requests_against_a_quota_of_100(tmp_path) -> None:
    settings = make_settings(tmp_path / "live", plants_per_day=100)
    with LiveServer(create_app(settings)) as server:
        owner = make_key(server.server.config.app.state.database)

        async def fire() -> list[int]:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=server.url, limits=limits,
                                         timeout=60) as client:
                answers = await asyncio.gather(*[
                    client.get("/api/plants", params={"per_page": 1}, headers=pp_headers(owner))
                    for _ in range(200)])
            return [a.status_code for a in answers]

        statuses = asyncio.run(fire())
    assert statuses.count(200) == 100
    assert statuses.count(429) == 100
