"""GET /v2/identify/{project}?images=URL...: identification by image URL, on by default, fetched
safely. The image host is a real HTTP server on a loopback address; the server under test may
reach it only through the test-only setting ``identify_url_test_loopback``."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
import requests
from fastapi.testclient import TestClient
from identify_openapi import check_shape
from identify_support import PROJECT, flora_settings
from image_host import ImageHost
from tests.conftest import LiveServer, make_key

from hortus.app import create_app
from hortus.config import Settings
from hortus.identify import remote

ERROR_KEYS = {"statusCode", "error", "message"}
CAP = 400_000  # bytes per image in these tests (the held-out photos are well under)


@pytest.fixture
def host(flora) -> Iterator[ImageHost]:
    with ImageHost("127.0.0.1") as image_host:
        for label in ("daffodil", "sunflower", "snowdrop"):
            for i in range(3):
                image_host.add(f"{label}-{i}.jpg", flora.photo(label, i).read_bytes())
        yield image_host


@pytest.fixture
def url_settings(settings, flora) -> Settings:
    return flora_settings(settings, flora, identify_url_test_loopback=["127.0.0.1"],
                          identify_url_timeout=1.5, identify_url_max_bytes=CAP)


@pytest.fixture
def url_client(url_settings) -> Iterator[TestClient]:
    with TestClient(create_app(url_settings)) as client:
        yield client


def _get(client: TestClient, key, urls: list[str], organs: list[str] | None = None,
         project: str = PROJECT, **params):
    query: dict = {"api-key": key.api_key, "images": urls, **params}
    if organs is not None:
        query["organs"] = organs
    return client.get(f"/v2/identify/{project}", params=query)


def _used(client: TestClient, key) -> int:
    quota = client.get("/v2/quota", params={"api-key": key.api_key}).json()
    return quota["quota"]["identify"]["count"]


def test_several_urls_with_organs_language_related_images_and_result_count(url_client, url_settings,
                                                                           host):
    key = make_key(url_settings)
    urls = [host.url("/photo/daffodil-0.jpg"), host.url("/photo/daffodil-1.jpg")]
    response = _get(url_client, key, urls, ["flower", "leaf"], lang="fr",
                    **{"include-related-images": "true", "nb-results": "2"})
    assert response.status_code == 200, response.text
    body = response.json()
    check_shape(body, "Identification result")
    assert body["query"]["organs"] == ["flower", "leaf"] and body["language"] == "fr"
    assert len(body["results"]) == 2
    best = body["results"][0]
    assert best["species"]["scientificNameWithoutAuthor"] == "Narcissus pseudonarcissus"
    assert "Jonquille" in best["species"]["commonNames"] and best["images"]
    assert [p["filename"] for p in body["predictedOrgans"]] == urls
    assert body["remainingIdentificationRequests"] == 499
    assert sorted(host.requests) == ["/photo/daffodil-0.jpg", "/photo/daffodil-1.jpg"]


def test_the_r_package_request_as_it_builds_it(url_settings, host):
    """BiologicalRecordsCentre/plantnet ``buildURL``: URLs encoded with ``reserved = TRUE``,
    one ``images=`` and ``organs=`` per photo, ``no-reject=false``."""
    key = make_key(url_settings)
    urls = [host.url("/photo/sunflower-0.jpg"), host.url("/photo/sunflower-1.jpg")]
    with LiveServer(url_settings) as server:
        line = (f"{server.url}/v2/identify/all?images="
                + "&images=".join(quote(u, safe="") for u in urls)
                + "&organs=flower&organs=leaf&lang=en&api-key=" + key.api_key
                + "&no-reject=false")
        response = requests.get(line, timeout=60)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["results"][0]["species"]["scientificNameWithoutAuthor"] == "Helianthus annuus"
    assert answer["query"]["project"] == "all"


def test_redirects_are_followed_and_each_hop_is_checked(url_client, url_settings, host):
    key = make_key(url_settings)
    target = host.url("/photo/snowdrop-0.jpg")
    hop = host.url("/redirect?to=" + quote(target, safe=""))
    followed = _get(url_client, key, [host.url("/redirect?to=" + quote(hop, safe=""))],
                    ["flower"])
    assert followed.status_code == 200, followed.text
    assert followed.json()["results"][0]["species"]["scientificNameWithoutAuthor"] == (
        "Galanthus nivalis")
    with ImageHost("127.0.0.2") as other:  # loopback too, but not allowed by the test setting
        other.add("snowdrop.jpg", b"never fetched")
        for inside in (other.url("/photo/snowdrop.jpg"), "http://10.0.0.1/a.jpg",
                       "http://169.254.169.254/latest/meta-data/", "http://[::1]/a.jpg",
                       "http://localhost/a.jpg", "file:///etc/passwd"):
            start = host.url("/redirect?to=" + quote(inside, safe=""))
            refused = _get(url_client, key, [start], ["flower"])
            assert refused.status_code == 400, (inside, refused.text)
            message = refused.json()["message"]
            assert message.startswith(f"image 1 ({start})"), message
            assert "redirect" in message, message
        assert other.requests == []
    assert _used(url_client, key) == 1


@pytest.mark.parametrize(("case", "status", "words"), [
    ("refused connection", 400, "refused the connection"),
    ("404", 400, "answered HTTP 404"),
    ("500", 400, "answered HTTP 500"),
    ("html page", 415, "text/html"),
    ("noise", 415, "is not a JPEG, PNG or WebP image"),
    ("declared too large", 413, f"over the {CAP} bytes"),
    ("streamed too large", 413, f"over the {CAP} bytes"),
    ("too slow", 400, "within 1.5 s"),
    ("not http", 400, "http or https"),
    ("credentials", 400, "credentials"),
])
def test_each_url_failure_names_the_url_and_costs_nothing(case, status, words, url_client,
                                                          url_settings, host):
    key = make_key(url_settings)
    good = host.url("/photo/daffodil-0.jpg")
    with ImageHost("127.0.0.1") as closed:
        refused_url = closed.url("/photo/x.jpg")
    bad = {
        "refused connection": refused_url,
        "404": host.url("/status/404"),
        "500": host.url("/status/500"),
        "html page": host.url("/page.html"),
        "noise": host.url("/noise.bin"),
        "declared too large": host.url("/big-declared"),
        "streamed too large": host.url(f"/big-streamed/{CAP * 3}"),
        "too slow": host.url("/slow/daffodil-1.jpg"),
        "not http": "ftp://127.0.0.1/a.jpg",
        "credentials": f"http://user:secret@127.0.0.1:{host.port}/photo/daffodil-1.jpg",
    }[case]
    response = _get(url_client, key, [good, bad], ["flower", "flower"])
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS and body["statusCode"] == status
    assert body["message"].startswith(f"image 2 ({bad})"), body["message"]
    assert words in body["message"], body["message"]
    assert _used(url_client, key) == 0


def test_loopback_and_private_urls_are_refused_by_default(settings, flora, host):
    """Default settings: identification by URL is on, and only public addresses are fetched."""
    defaults = flora_settings(settings, flora)
    assert defaults.identify_by_url is True and defaults.identify_url_test_loopback == []
    key = make_key(defaults)
    with TestClient(create_app(defaults)) as client:
        for url in (host.url("/photo/daffodil-0.jpg"), f"http://localhost:{host.port}/x.jpg",
                    "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/a.jpg",
                    "http://192.168.1.1/a.jpg", "http://[::1]/a.jpg", "http://[fd00::1]/a.jpg",
                    "http://[::ffff:127.0.0.1]/a.jpg", "http://0.0.0.0/a.jpg",
                    "http://2130706433/a.jpg", "http://100.64.0.1/a.jpg", "http://224.0.0.1/a"):
            response = _get(client, key, [url], ["leaf"])
            assert response.status_code == 400, (url, response.text)
            message = response.json()["message"]
            assert message.startswith(f"image 1 ({url})") and "not a public address" in message, (
                message)
        assert _used(client, key) == 0
    assert host.requests == []


def test_an_operator_can_restrict_the_hosts_or_switch_it_off(settings, flora, host):
    restricted = flora_settings(settings, flora, identify_url_test_loopback=["127.0.0.1"],
                                identify_url_hosts=["images.example.org", "*.example.net"])
    key = make_key(restricted)
    with TestClient(create_app(restricted)) as client:
        response = _get(client, key, [host.url("/photo/daffodil-0.jpg")], ["flower"])
        assert response.status_code == 400
        assert "not one of the hosts this server fetches images from" in (
            response.json()["message"])
    off = flora_settings(settings, flora, identify_by_url=False)
    with TestClient(create_app(off)) as client:
        response = _get(client, key, [host.url("/photo/daffodil-0.jpg")], ["flower"])
        assert response.status_code == 400 and "disabled" in response.json()["message"]
    assert host.requests == []


def test_bad_query_and_over_quota_cost_nothing_and_fetch_nothing(settings, flora, host):
    limited = flora_settings(settings, flora, identify_url_test_loopback=["127.0.0.1"],
                             identify_per_day=1)
    key = make_key(limited)
    url = host.url("/photo/sunflower-2.jpg")
    with TestClient(create_app(limited)) as client:
        for params in ({"nb-results": "0"}, {"lang": "klingon"}, {"detailed": "sure"},
                       {"type": "new"}):
            response = _get(client, key, [url], ["flower"], **params)
            assert response.status_code == 400, response.text
            assert next(iter(params)) in response.json()["message"]
        assert _get(client, key, [url] * 6, ["flower"] * 6).status_code == 400
        assert _get(client, key, [url, url], ["flower"]).status_code == 400  # organs != images
        assert _get(client, key, [], None).status_code == 400
        assert _get(client, key, [url], ["flower"], project="moon-flora").status_code == 404
        assert host.requests == []
        assert _get(client, key, [url], ["flower"]).status_code == 200
        fetched = len(host.requests)
        over = _get(client, key, [url], ["flower"])
        assert over.status_code == 429 and over.json()["remainingIdentificationRequests"] == 0
        assert len(host.requests) == fetched  # an over-quota caller costs no fetch
        assert _used(client, key) == 1


def _connect_error(code: int) -> httpx.ConnectError:
    """An httpx connection error caused by the operating system's ``code``, as httpx raises it."""
    try:
        try:
            raise OSError(code, errno.errorcode[code])
        except OSError as cause:
            raise httpx.ConnectError(str(cause)) from cause
    except httpx.ConnectError as error:
        return error


def test_what_a_server_without_internet_access_says():
    """(A server without a route out cannot be made in a test without leaving the machine: the
    words for it are checked on the errors the operating system gives.)"""
    for code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        reason = remote.connect_failure("images.example.org", _connect_error(code)).reason
        assert "no route to 'images.example.org'" in reason and "no internet access" in reason
    assert "refused the connection" in remote.connect_failure(
        "a.org", _connect_error(errno.ECONNREFUSED)).reason
    no_dns = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    assert "may have no internet access" in remote.resolution_failure("a.org", no_dns).reason
    no_host = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert "does not resolve" in remote.resolution_failure("a.org", no_host).reason


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.215.14", True), ("2606:4700::6810:84e5", True), ("127.0.0.1", False),
    ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.0.1", False), ("169.254.169.254", False),
    ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False), ("240.0.0.1", False),
    ("::1", False), ("fd00:ec2::254", False), ("fe80::1", False), ("::ffff:10.0.0.1", False),
    ("64:ff9b::a00:1", False), ("2002:a00:1::", False), ("64:ff9b::5db8:d70e", True),
])
def test_public_addresses(address, public):
    assert remote.is_public(ipaddress.ip_address(address)) is public


def test_listed_hosts():
    policy = remote.FetchPolicy(max_bytes=1, timeout=1, hosts=("images.example.org",
                                                              "*.example.net"))
    assert policy.host_listed("images.example.org") and policy.host_listed("IMAGES.example.org.")
    assert policy.host_listed("example.net") and policy.host_listed("cdn.example.net")
    assert not policy.host_listed("example.org") and not policy.host_listed("badexample.net")
    assert remote.FetchPolicy(max_bytes=1, timeout=1).host_listed("anything.org")
