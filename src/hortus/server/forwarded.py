"""Who the client is and how it reached Hortus, when reverse proxies stand in front of it.

Behind a proxy every connection comes from the proxy. The proxy says who its client was in a
forwarding header, but anyone can send that header, so it is read only when the connection's
peer is a trusted proxy (``HORTUS_TRUSTED_PROXIES``), and only the kind the proxies set
(``HORTUS_FORWARDED_HEADER``: ``X-Forwarded-For`` with ``X-Forwarded-Proto`` and
``X-Forwarded-Host``, or RFC 7239 ``Forwarded``).

The chain of addresses is read from the right (the hop nearest to Hortus) leftwards, skipping
trusted proxies: the first address that is not one is the client. Everything left of it was
written by someone Hortus does not trust and is ignored, so a client cannot choose its own
address by sending ``X-Forwarded-For: <someone else>``. An entry that is not an address
(``unknown``, an obfuscated ``_hidden``) ends the walk at the last address read.

:class:`ForwardedHeaders` rewrites the ASGI scope in place, before any other layer sees it:
``client`` (the API keys' authorized IPs, sign-in throttling, sign-up caps, the access log),
``scheme`` and the ``Host`` header (absolute URLs, ``Secure`` cookies). ``HORTUS_PUBLIC_URL``,
when set, fixes the scheme and host for every request whatever the headers say.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from hortus.config import Settings

X_FORWARDED_FOR = "x-forwarded-for"
FORWARDED = "forwarded"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
                   r"(?::[0-9]{1,5})?$")
_SCHEMES = {"http", "https"}


def parse_address(text: str) -> IpAddress | None:
    """The IP address in a forwarding entry (``192.0.2.7``, ``192.0.2.7:4711``,
    ``[2001:db8::1]:443``, ``2001:db8::1``), IPv4-mapped IPv6 as IPv4; None when it is none."""
    value = text.strip().strip('"')
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # IPv4 with a port (an IPv6 address has several colons)
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    """The addresses and ranges of ``HORTUS_TRUSTED_PROXIES``."""

    def __init__(self, networks: Sequence[str]) -> None:
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IpAddress | None) -> bool:
        return address is not None and any(address in network for network in self.networks)


@dataclass(frozen=True)
class Hop:
    """One hop of a forwarding chain: the address it names, and the scheme and host it was
    asked for (when the header says)."""

    address: str
    proto: str | None = None
    host: str | None = None


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def forwarded_hops(values: Sequence[str]) -> list[Hop]:
    """The hops of RFC 7239 ``Forwarded`` headers, nearest to the client first."""
    hops = []
    for value in values:
        for element in _split_outside_quotes(value, ","):
            pairs: dict[str, str] = {}
            for pair in _split_outside_quotes(element, ";"):
                name, equals, raw = pair.partition("=")
                if equals:
                    pairs[name.strip().lower()] = _unquote(raw)
            if pairs:
                hops.append(Hop(address=pairs.get("for", ""), proto=pairs.get("proto"),
                                host=pairs.get("host")))
    return hops


def x_forwarded_hops(forwarded_for: Sequence[str], proto: Sequence[str],
                     host: Sequence[str]) -> list[Hop]:
    """The hops of ``X-Forwarded-For``, nearest to the client first. ``X-Forwarded-Proto`` and
    ``-Host`` lists as long as the chain are read hop by hop (each proxy appended to all
    three); otherwise their right-most value (the nearest proxy's) applies to every hop."""

    def entries(values: Sequence[str]) -> list[str]:
        return [part.strip() for value in values for part in value.split(",") if part.strip()]

    addresses, protos, hosts = entries(forwarded_for), entries(proto), entries(host)
    if not addresses and (protos or hosts):  # a proxy that names the scheme, not the client
        return [Hop(address="", proto=protos[-1] if protos else None,
                    host=hosts[-1] if hosts else None)]
    hops = []
    for index, address in enumerate(addresses):
        hops.append(Hop(
            address=address,
            proto=protos[index] if len(protos) == len(addresses) else
            (protos[-1] if protos else None),
            host=hosts[index] if len(hosts) == len(addresses) else
            (hosts[-1] if hosts else None)))
    return hops


def client_hop(hops: Sequence[Hop], trusted: TrustedProxies) -> tuple[Hop, IpAddress] | None:
    """The client's hop: the right-most whose address is not a trusted proxy (or the
    left-most, when every one is). None when the nearest entry is no address."""
    chosen: tuple[Hop, IpAddress] | None = None
    for hop in reversed(hops):
        address = parse_address(hop.address)
        if address is None:
            break
        chosen = (hop, address)
        if not trusted.trusts(address):
            break
    return chosen


@dataclass(frozen=True)
class PublicUrl:
    scheme: str
    host: str  # host[:port], as it goes in a Host header
    server: tuple[str, int]

    @classmethod
    def parse(cls, url: str) -> PublicUrl:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(scheme=parts.scheme, host=parts.netloc, server=(parts.hostname or "", port))


def _header_values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key == name]


def _with_host(headers: Sequence[tuple[bytes, bytes]], host: str) -> list[tuple[bytes, bytes]]:
    kept = [(key, value) for key, value in headers if key != b"host"]
    return [(b"host", host.encode("latin-1")), *kept]


def _scheme_for(scope: Scope, proto: str) -> str:
    if scope["type"] == "websocket":
        return "wss" if proto == "https" else "ws"
    return proto


class ForwardedHeaders:
    """ASGI middleware: the client, scheme and host of each request as the trusted proxies
    (and the public URL) say, written into the scope for every layer after it."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: Sequence[str] = (),
                 header: str = X_FORWARDED_FOR, public_url: str | None = None) -> None:
        if header not in (X_FORWARDED_FOR, FORWARDED):
            raise ValueError(f"header must be {X_FORWARDED_FOR} or {FORWARDED}, not {header!r}")
        self.app = app
        self.trusted = TrustedProxies(trusted_proxies)
        self.header = header
        self.public = PublicUrl.parse(public_url) if public_url else None

    def _hops(self, headers: Sequence[tuple[bytes, bytes]]) -> list[Hop]:
        if self.header == FORWARDED:
            return forwarded_hops(_header_values(headers, b"forwarded"))
        return x_forwarded_hops(_header_values(headers, b"x-forwarded-for"),
                                _header_values(headers, b"x-forwarded-proto"),
                                _header_values(headers, b"x-forwarded-host"))

    def resolve(self, scope: Scope) -> None:
        """Rewrite ``scope`` in place (uvicorn's access log reads the same dict)."""
        peer = scope.get("client")
        if self.trusted and peer and self.trusted.trusts(parse_address(str(peer[0]))):
            hops = self._hops(scope["headers"])
            found = client_hop(hops, self.trusted)
            if found is not None:
                scope["client"] = (str(found[1]), 0)
            # The scheme and host the client asked for; when the chain names no client, the
            # nearest proxy's own entry (it is trusted) still says them.
            hop = found[0] if found is not None else (hops[-1] if hops else None)
            if hop is not None:
                proto = (hop.proto or "").strip().lower()
                if proto in _SCHEMES:
                    scope["scheme"] = _scheme_for(scope, proto)
                if hop.host and _HOST.match(hop.host.strip()):
                    scope["headers"] = _with_host(scope["headers"], hop.host.strip())
        if self.public is not None:
            scope["scheme"] = _scheme_for(scope, self.public.scheme)
            scope["server"] = self.public.server
            scope["headers"] = _with_host(scope["headers"], self.public.host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            self.resolve(scope)
        await self.app(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    """Add :class:`ForwardedHeaders` as the outermost middleware, when there is a trusted
    proxy or a public URL (otherwise the scope is the connection's, untouched)."""
    if settings.trusted_proxies or settings.public_url:
        app.add_middleware(ForwardedHeaders, trusted_proxies=settings.trusted_proxies,
                           header=settings.forwarded_header, public_url=settings.public_url)
