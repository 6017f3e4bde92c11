"""Fetch the photos of ``GET /v2/identify/{project}?images=URL`` — safely.

A server that fetches URLs for its callers can be turned against its own network (SSRF). So:

* only ``http``/``https`` URLs, without user info; when the operator lists hosts
  (``HORTUS_IDENTIFY_URL_HOSTS``), only those, checked before any DNS lookup;
* the host is resolved and EVERY address must be public: not private, loopback, link-local
  (cloud metadata services included), multicast, reserved, unspecified or shared address space,
  nor an IPv6 form of one (IPv4-mapped, NAT64, 6to4, Teredo);
* the connection goes to an address that was checked (the Host header and TLS SNI carry the
  name, and the certificate is verified for the name), so a second DNS answer cannot swap in an
  internal address (DNS rebinding);
* redirects are followed by hand, at most :data:`MAX_REDIRECTS`, each hop checked like the
  first URL;
* each image is capped (``HORTUS_IDENTIFY_URL_MAX_BYTES``, declared or streamed) and has one
  deadline for everything (``HORTUS_IDENTIFY_URL_TIMEOUT``): DNS, connections, redirects, body;
* no proxy from the environment, no cookies, no compressed bodies (no decompression bombs).

The fetched bytes then go through the same decoder, with the same limits, as uploaded photos.
A test-only setting (``HORTUS_IDENTIFY_URL_TEST_LOOPBACK``) lets given loopback addresses
through, so tests can serve photos from a local HTTP server.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import socket
import ssl
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import httpx

from hortus.config import Settings
from hortus.errors import HortusError, InvalidInput, PayloadTooLarge, UnsupportedMedia
from hortus.identify.pipeline import image_label
from hortus.identify.upload import UploadedPhoto

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
_NOT_IMAGES = ("text/", "application/json", "application/xml", "application/xhtml")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchPolicy:
    """What may be fetched, how much and how long (from the settings)."""

    max_bytes: int
    timeout: float
    hosts: tuple[str, ...] = ()
    test_loopback: frozenset[_Address] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(max_bytes=settings.identify_url_max_bytes,
                   timeout=settings.identify_url_timeout,
                   hosts=tuple(h.strip().lower().rstrip(".") for h in settings.identify_url_hosts),
                   test_loopback=frozenset(ipaddress.ip_address(a)
                                           for a in settings.identify_url_test_loopback))

    def host_listed(self, host: str) -> bool:
        """True when no hosts are listed, or ``host`` is one of them (``*.x`` covers ``x`` and
        its subdomains)."""
        if not self.hosts:
            return True
        host = host.lower().rstrip(".")
        return any(host == rule or (rule.startswith("*.") and (host == rule[2:]
                                                               or host.endswith(rule[1:])))
                   for rule in self.hosts)


class FetchRefused(Exception):
    """Why an image URL could not be used; ``status`` is the answer's HTTP status."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status

    def for_image(self, position: int, url: str) -> HortusError:
        """The API error, naming the image and its URL."""
        message = f"{image_label(position, url)}: {self.reason}."
        if self.status == 413:
            return PayloadTooLarge(message, error="image too large")
        if self.status == 415:
            return UnsupportedMedia(message, error="not an image")
        return InvalidInput(message, error="bad image url")


def is_public(address: _Address) -> bool:
    """True for a globally routable unicast address (IPv6 forms of IPv4 addresses are judged by
    the IPv4 address they carry)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (address.is_multicast or address.is_reserved)


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    target: str  # path?query


def _target(url: str, policy: FetchPolicy) -> _Target:
    """The parts of an acceptable URL (no network); FetchRefused otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise FetchRefused("not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchRefused("image URLs must be http or https")
    if not parts.hostname:
        raise FetchRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("image URLs must not carry credentials")
    if not policy.host_listed(parts.hostname):
        raise FetchRefused(f"the host {parts.hostname[:100]!r} is not one of the hosts this "
                           "server fetches images from")
    scheme = parts.scheme.lower()
    port = port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(url.strip(), scheme, parts.hostname, port, target)


def check_urls(urls: Sequence[str], policy: FetchPolicy) -> None:
    """Refuse any URL that can be refused without the network, naming the first one."""
    for position, url in enumerate(urls):
        try:
            _target(url, policy)
        except FetchRefused as refused:
            raise refused.for_image(position, url) from None


def resolution_failure(host: str, exc: OSError) -> FetchRefused:
    """Why ``host`` did not resolve, in words (a server without DNS or internet is named)."""
    if isinstance(exc, socket.gaierror) and exc.errno in (socket.EAI_NONAME,
                                                          getattr(socket, "EAI_NODATA", -5)):
        return FetchRefused(f"the host {host[:100]!r} does not resolve (no such host name, or "
                            "this server has no DNS)")
    return FetchRefused(f"the host name {host[:100]!r} could not be resolved: this server may "
                        "have no internet access")


async def _resolve(host: str, port: int) -> list[_Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise resolution_failure(host, exc) from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0])
                                   for info in infos))
    if not addresses:
        raise FetchRefused(f"the host {host[:100]!r} does not resolve")
    return addresses


def _check(addresses: Sequence[_Address], host: str, policy: FetchPolicy) -> None:
    for address in addresses:
        if address in policy.test_loopback:
            continue
        if not is_public(address):
            raise FetchRefused(f"the host {host[:100]!r} is not a public address (private, "
                               "loopback, link-local and other internal addresses are not "
                               "fetched)")


def _os_error(exc: BaseException) -> OSError | None:
    """The operating system's error behind an httpx error, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            return current
        current = current.__cause__ or current.__context__
    return None


def connect_failure(host: str, exc: BaseException) -> FetchRefused:
    """Why a connection to ``host`` failed, in words (a network with no route out is named)."""
    os_error = _os_error(exc)
    if isinstance(os_error, ssl.SSLError):
        return FetchRefused(f"the TLS connection to {host[:100]!r} failed: "
                            f"{os_error.__class__.__name__}")
    code = os_error.errno if os_error is not None else None
    if code == errno.ECONNREFUSED:
        return FetchRefused(f"the host {host[:100]!r} refused the connection")
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
        return FetchRefused(f"this server has no route to {host[:100]!r}: it may have no "
                            "internet access")
    return FetchRefused(f"could not connect to {host[:100]!r} ({type(exc).__name__})")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every fetch (loading the CA bundle takes milliseconds)."""
    return httpx.create_ssl_context()


async def _get(client: httpx.AsyncClient, where: _Target, addresses: Sequence[_Address],
               policy: FetchPolicy) -> bytes | str:
    """GET ``where`` at the first of ``addresses`` that accepts a connection: the body, or the
    URL of a redirect."""
    default_port = where.port == (443 if where.scheme == "https" else 80)
    host = f"[{where.host}]" if ":" in where.host else where.host
    headers = {"Host": host if default_port else f"{host}:{where.port}",
               "Accept": "image/*", "Accept-Encoding": "identity",
               "User-Agent": "Hortus (Pl@ntNet-compatible identification)"}
    extensions = {"sni_hostname": where.host} if where.scheme == "https" else {}
    failure: BaseException | None = None
    for address in addresses:
        netloc = f"[{address}]" if address.version == 6 else str(address)
        request = client.build_request("GET", f"{where.scheme}://{netloc}:{where.port}"
                                       f"{where.target}", headers=headers, extensions=extensions)
        try:
            response = await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            failure = exc
            continue
        except httpx.HTTPError as exc:
            raise FetchRefused(f"the connection to {where.host[:100]!r} failed "
                               f"({type(exc).__name__})") from None
        try:
            return await _read(response, where, policy)
        finally:
            await response.aclose()
    assert failure is not None
    raise connect_failure(where.host, failure)


async def _read(response: httpx.Response, where: _Target, policy: FetchPolicy) -> bytes | str:
    status = response.status_code
    if status in REDIRECTS and response.headers.get("location"):
        return urljoin(where.url, response.headers["location"])
    if status != 200:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        raise FetchRefused(f"the URL answered HTTP {status} {phrase}".rstrip())
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.startswith(_NOT_IMAGES):
        raise FetchRefused(f"the URL answered with {content_type[:60]}, not an image", 415)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchRefused(f"the URL sent a compressed ({encoding[:20]}) body; images are sent "
                           "as they are")
    too_large = FetchRefused(f"the image is over the {policy.max_bytes} bytes limit per image",
                             413)
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise too_large
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > policy.max_bytes:
                raise too_large
    except httpx.HTTPError as exc:
        raise FetchRefused(f"the image's transfer broke off ({type(exc).__name__})") from None
    return bytes(body)


async def _fetch(url: str, policy: FetchPolicy) -> bytes:
    current = url
    async with httpx.AsyncClient(
        transport=httpx.AsyncHTTPTransport(verify=_tls_context(), retries=0, trust_env=False),
        follow_redirects=False, trust_env=False, timeout=httpx.Timeout(policy.timeout),
    ) as client:
        for hop in range(MAX_REDIRECTS + 1):
            try:
                where = _target(current, policy)
                addresses = await _resolve(where.host, where.port)
                _check(addresses, where.host, policy)
            except FetchRefused as refused:
                if hop:  # say which redirect led there
                    refused.reason = f"it redirected to {current[:300]}, and {refused.reason}"
                raise
            outcome = await _get(client, where, addresses, policy)
            if isinstance(outcome, bytes):
                return outcome
            current = outcome
    raise FetchRefused(f"the URL redirected more than {MAX_REDIRECTS} times")


async def fetch_image(url: str, *, policy: FetchPolicy) -> bytes:
    """The bytes at ``url``, fetched under the rules above; FetchRefused says why not."""
    try:
        async with asyncio.timeout(policy.timeout):
            return await _fetch(url, policy)
    except TimeoutError:
        raise FetchRefused(f"the image did not arrive within {policy.timeout:g} s") from None


async def fetch_photos(urls: Sequence[str], *, policy: FetchPolicy
                       ) -> AsyncGenerator[UploadedPhoto, None]:
    """Fetch every URL at once; yield the photos in URL order as they arrive (the first can be
    decoded while the others download). The first failure in URL order is raised as the API's
    error for that image; leaving early cancels the other fetches."""
    fetches = [asyncio.ensure_future(fetch_image(url, policy=policy)) for url in urls]
    try:
        for position, (url, fetch) in enumerate(zip(urls, fetches, strict=True)):
            try:
                data = await fetch
            except FetchRefused as refused:
                raise refused.for_image(position, url) from None
            yield UploadedPhoto(filename=url, data=data)
    finally:
        for fetch in fetches:
            fetch.cancel()
            fetch.add_done_callback(lambda f: f.cancelled() or f.exception())
