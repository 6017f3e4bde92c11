"""Fetch photos by URL for ``GET /v2/identify/{project}`` — off unless an operator enables it.

A server that fetches URLs for its callers can be turned against its own network (SSRF). So:

* only ``http``/``https`` URLs, without user info, on the default or an explicit port;
* the host is resolved once and EVERY address must be public (not private, loopback,
  link-local, multicast, reserved, unspecified, or shared address space), unless the host
  name or the address is in ``settings.url_fetch_allow`` (host names, IPs or CIDR ranges);
* the connection goes to the address that was checked (the Host header and TLS SNI carry the
  name), so a second DNS answer cannot swap in an internal address (DNS rebinding);
* no redirects are followed; each photo is capped at the upload cap, and each fetch has a
  connect/read timeout and an overall deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from hortus.errors import InvalidInput, PayloadTooLarge

FETCH_TIMEOUT = 10.0
_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _allow_rules(allow: Sequence[str]) -> tuple[set[str], list[_Network]]:
    hosts: set[str] = set()
    networks: list[_Network] = []
    for rule in allow:
        rule = rule.strip().lower()
        try:
            networks.append(ipaddress.ip_network(rule, strict=False))
        except ValueError:
            if rule:
                hosts.add(rule)
    return hosts, networks


def is_public(address: _Address) -> bool:
    """True for a globally routable unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (address.is_multicast or address.is_reserved)


def check_address(address: _Address, host: str, allow: Sequence[str]) -> None:
    """Refuse a non-public address unless the host or the address is allow-listed."""
    hosts, networks = _allow_rules(allow)
    if host.lower() in hosts or any(address in net for net in networks):
        return
    if not is_public(address):
        raise InvalidInput(f"The image URL host {host[:100]!r} is not a public address.",
                           error="bad image url")


def parse_image_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path?query)`` of an acceptable image URL; InvalidInput otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidInput(f"Not a valid image URL: {url[:100]!r}.",
                           error="bad image url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"Image URLs must be http or https: {url[:100]!r}.",
                           error="bad image url")
    if parts.username or parts.password:
        raise InvalidInput("Image URLs must not carry credentials.", error="bad image url")
    port = port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, target


async def resolve(host: str, port: int) -> list[_Address]:
    """Every address ``host`` resolves to (InvalidInput when it does not resolve)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise InvalidInput(f"The image URL host {host[:100]!r} does not resolve.",
                           error="bad image url") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def fetch_image(url: str, *, allow: Sequence[str], max_bytes: int,
                      timeout: float = FETCH_TIMEOUT) -> bytes:
    """The bytes at ``url``, fetched under the rules above."""
    scheme, host, port, target = parse_image_url(url)
    addresses = await resolve(host, port)
    if not addresses:
        raise InvalidInput(f"The image URL host {host[:100]!r} does not resolve.",
                           error="bad image url")
    for address in addresses:
        check_address(address, host, allow)
    pinned = addresses[0]
    netloc = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    request_url = f"{scheme}://{netloc}:{port}{target}"
    default_port = port == (443 if scheme == "https" else 80)
    headers = {"Host": host if default_port else f"{host}:{port}", "Accept": "image/*"}
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    try:
        async with asyncio.timeout(timeout), httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False
        ) as client, client.stream("GET", request_url, headers=headers,
                                   extensions=extensions) as response:
            if response.status_code != 200:
                raise InvalidInput(f"The image URL answered HTTP {response.status_code}.",
                                   error="bad image url")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise PayloadTooLarge(f"The image at the URL is over {max_bytes} bytes.")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise PayloadTooLarge(f"The image at the URL is over {max_bytes} bytes.")
            return bytes(body)
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        raise InvalidInput(f"The image URL could not be fetched: {type(exc).__name__}.",
                           error="bad image url") from None


async def fetch_all(urls: Sequence[str], *, allow: Sequence[str], max_bytes: int,
                    timeout: float = FETCH_TIMEOUT) -> list[bytes]:
    """Fetch every URL at once; the first failure (in URL order) is raised."""
    outcomes = await asyncio.gather(
        *(fetch_image(u, allow=allow, max_bytes=max_bytes, timeout=timeout) for u in urls),
        return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return list(outcomes)  # type: ignore[arg-type]
