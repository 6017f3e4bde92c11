"""Exposure rules of an API key: authorized domains (CORS) and authorized IPs (server-side).

Following Pl@ntNet's "expose my API key":

* a key that is **not exposed** is for servers only: it sends no CORS headers, and on Pl@ntNet's
  routes a request that carries an ``Origin`` header (a browser page) is refused (PEAT and
  Permapeople serve it, still without CORS headers);
* an **exposed** key is for browser apps: a CORS request (``Origin`` present) is accepted only
  from an authorized domain; a non-CORS request only from an authorized IP. An exposed key with an
  empty IP list can therefore not be used server-side at all — that is the point of the rule
  ("this prevents the exposed API key from being stolen and used server-side").

Domain lines are host names, optionally written as an origin (``https://app.example.org``) and
with a port; ``*.example.org`` authorizes every sub-domain. IP lines are IPv4 (or IPv6)
addresses or CIDR ranges.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from hortus.accounts.models import ApiKey
from hortus.errors import Forbidden, InvalidInput

MAX_LINES = 200
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _lines(text: str) -> list[tuple[int, str]]:
    numbered = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    return [(n, line) for n, line in numbered if line and not line.startswith("#")]


def normalise_domain(raw: str) -> str:
    """``"https://App.Example.org:8443/"`` → ``"app.example.org:8443"``; ValueError when garbage.

    The scheme and a trailing slash are dropped (browsers send any scheme); a port is kept and
    then has to match. ``*.`` may lead, for every sub-domain.
    """
    value = raw.strip().lower()
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or parts.path not in ("", "/") \
                or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("write a domain name, or an origin such as https://app.example.org")
        value = parts.netloc
    value = value.rstrip("/")
    host, _, port = value.partition(":")
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        raise ValueError(f"{port!r} is not a port number")
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    if not name or len(name) > 253:
        raise ValueError("a domain name is missing")
    try:  # an IP literal is a valid origin host (http://192.168.1.10:8080)
        ipaddress.ip_address(name)
        is_ip = True
    except ValueError:
        is_ip = False
    if not is_ip and not all(_LABEL.match(label) for label in name.split(".")):
        raise ValueError(f"{name!r} is not a domain name")
    if wildcard and (is_ip or "." not in name):
        raise ValueError("a wildcard needs a domain under it, such as *.example.org")
    return f"{host}:{port}" if port else host


def parse_domains(text: str) -> list[str]:
    """Authorized-domain lines → normalised list (no duplicates). InvalidInput names bad lines."""
    return _parse(text, normalise_domain, "Authorized domains")


def normalise_ip(raw: str) -> str:
    """An address or CIDR range in canonical form (host bits cleared); ValueError when garbage."""
    try:
        return str(ipaddress.ip_network(raw.strip(), strict=False))
    except ValueError:
        raise ValueError("write an IPv4 address (192.0.2.7) or a CIDR range (192.0.2.0/24)") \
            from None


def parse_ips(text: str) -> list[str]:
    """Authorized-IP lines → normalised list (no duplicates). InvalidInput names bad lines."""
    return _parse(text, normalise_ip, "Authorized IPs")


def _parse(text: str, normalise, what: str) -> list[str]:  # type: ignore[no-untyped-def]
    lines = _lines(text or "")
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"{what}: at most {MAX_LINES} lines.", error="invalid exposure")
    values: list[str] = []
    problems: list[str] = []
    for number, line in lines:
        try:
            value = normalise(line)
        except ValueError as exc:
            problems.append(f"line {number} ({line[:80]!r}): {exc}")
            continue
        if value not in values:
            values.append(value)
    if problems:
        raise InvalidInput(f"{what}: " + "; ".join(problems[:10]) + ".", error="invalid exposure")
    return values


def stored_list(text: str | None) -> list[str]:
    """A list column as stored (one normalised entry per line)."""
    return [line for line in (text or "").splitlines() if line.strip()]


def origin_host(origin: str) -> tuple[str, str] | None:
    """``"https://app.example.org:8443"`` → ``("app.example.org", "8443")``; None when unusable."""
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.hostname, str(port) if port else ""


def origin_allowed(domains: list[str], origin: str) -> bool:
    """Whether a browser ``Origin`` matches one authorized domain line."""
    parsed = origin_host(origin)
    if parsed is None:
        return False
    host, port = parsed
    for entry in domains:
        name, _, entry_port = entry.partition(":")
        if entry_port and entry_port != port:
            continue
        if name.startswith("*."):
            if host.endswith(name[1:]) and host != name[2:]:
                return True
        elif host == name:
            return True
    return False


def ip_allowed(networks: list[str], client_ip: str) -> bool:
    """Whether a client address lies in one authorized address or range."""
    try:
        address = ipaddress.ip_address(client_ip.strip().strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for entry in networks:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def check_exposure(*, key: ApiKey, origin: str | None, client_ip: str,
                   private_refuses_origin: bool = True) -> None:
    """Raise Forbidden when the key may not be used from this origin or address.

    ``private_refuses_origin`` is Pl@ntNet's rule that a private key is refused from a web page.
    PEAT and Permapeople have no such rule, and their clients (webviews, server-side proxies)
    send an ``Origin`` with a private key: there it is served, without CORS headers, which is
    what keeps a browser page from reading the answer.
    """
    if not key.expose:
        if origin and private_refuses_origin:
            raise Forbidden(
                "This API key is private: to call the API from a web page, check \"expose my "
                "API key\" and authorize the page's domain in your API key settings.",
                error="key not exposed",
            )
        return
    if origin:
        if not origin_allowed(stored_list(key.authorized_domains), origin):
            raise Forbidden(f"The origin {origin[:200]} is not an authorized domain of this "
                            "API key.", error="origin not authorized")
        return
    if not ip_allowed(stored_list(key.authorized_ips), client_ip):
        raise Forbidden(f"This API key is exposed: requests without an Origin are only accepted "
                        f"from its authorized IPs, and {client_ip[:64]} is not one of them.",
                        error="ip not authorized")
