"""Showing a new API key secret once, after post/redirect/get, without storing it anywhere.

Generating a key (or rotating its secret) answers with a redirect to the keys page, so reloading
that page never makes another key; the page shows the secret once. No server keeps the secret
between the two requests (every process is stateless, DESIGN.md): the redirect sets a cookie,
scoped to the keys page and a few minutes long, that carries the key id and the secret sealed
with a one-time pad (HMAC-SHA-512 of a fresh random nonce under the server's secret key), and a
MAC over all of it and the visitor's session token. The keys page opens it, shows the secret and
deletes the cookie in the same answer, so a reload shows it no more. A cookie from another
session, altered, or older than :data:`FLASH_SECONDS` opens to nothing; the cookie alone does not
reveal the secret. The database keeps only the secret's hash, as before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal, cast

from fastapi import Request, Response

from hortus.accounts.keys import NewKey

COOKIE_NAME = "hortus_new_key"
FLASH_SECONDS = 300
Kind = Literal["generated", "rotated"]
_KINDS: tuple[Kind, ...] = ("generated", "rotated")


@dataclass(frozen=True)
class KeyFlash:
    """A key secret to show once: why it is new, and the key."""

    kind: Kind
    key: NewKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _pad(server_key: bytes, nonce: bytes, length: int) -> bytes:
    """``length`` bytes of one-time pad for ``nonce`` (HMAC-SHA-512 blocks, counter mode)."""
    blocks = b""
    counter = 0
    while len(blocks) < length:
        blocks += hmac.new(server_key, b"key-flash-pad:%d:" % counter + nonce,
                           hashlib.sha512).digest()
        counter += 1
    return blocks[:length]


def _mac(server_key: bytes, token: str, payload: str) -> str:
    digest = hmac.new(server_key, f"key-flash-mac:{token}:{payload}".encode(),
                      hashlib.sha256).digest()
    return _b64(digest)


def seal(server_key: bytes, token: str, flash: KeyFlash, now: float | None = None) -> str:
    """The cookie value that shows ``flash`` once to the session ``token``."""
    nonce = secrets.token_bytes(16)
    plain = flash.key.key_secret.encode()
    sealed = bytes(a ^ b for a, b in zip(plain, _pad(server_key, nonce, len(plain)), strict=True))
    expires = int((now if now is not None else time.time()) + FLASH_SECONDS)
    payload = ".".join((flash.kind, str(expires), flash.key.key_id, _b64(nonce), _b64(sealed)))
    return f"{payload}.{_mac(server_key, token, payload)}"


def unseal(server_key: bytes, token: str, value: str | None,
           now: float | None = None) -> KeyFlash | None:
    """The flash in a cookie value, or None when it is missing, altered, expired or belongs to
    another session."""
    if not value or len(value) > 512:
        return None
    payload, _, mac = value.rpartition(".")
    if not payload or not hmac.compare_digest(mac, _mac(server_key, token, payload)):
        return None
    parts = payload.split(".")
    if len(parts) != 5 or parts[0] not in _KINDS or not parts[1].isdigit():
        return None
    kind, expires, key_id, nonce_text, sealed_text = parts
    if int(expires) < (now if now is not None else time.time()):
        return None
    try:
        nonce, sealed = _unb64(nonce_text), _unb64(sealed_text)
        secret = bytes(a ^ b for a, b in zip(sealed, _pad(server_key, nonce, len(sealed)),
                                               strict=True)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return KeyFlash(kind=cast(Kind, kind), key=NewKey(key_id=key_id, key_secret=secret))


def give(request: Request, response: Response, *, server_key: bytes, token: str, path: str,
         flash: KeyFlash) -> None:
    """Set the flash cookie on a redirect to the keys page at ``path``."""
    secure = request.url.scheme == "https" or request.app.state.settings.environment == "production"
    response.set_cookie(COOKIE_NAME, seal(server_key, token, flash), max_age=FLASH_SECONDS,
                        path=path, httponly=True, samesite="strict", secure=secure)


def opened(request: Request, *, server_key: bytes, token: str) -> KeyFlash | None:
    """The flash this request carries, or None when it carries none or it does not open."""
    return unseal(server_key, token, request.cookies.get(COOKIE_NAME))


def forget(request: Request, response: Response, *, path: str) -> None:
    """Delete the flash cookie (when the request had one): it is shown once."""
    if COOKIE_NAME in request.cookies:
        response.delete_cookie(COOKIE_NAME, path=path, httponly=True, samesite="strict")
