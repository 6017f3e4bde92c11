"""Signed session cookies, CSRF tokens and the server's secret key.

Every visitor gets a cookie holding a random token, signed with the secret key (so a forged
cookie is rejected before any database lookup). Signing in stores the token's digest in
``web_sessions`` (see :mod:`hortus.accounts.sessions`) under a *new* token, so a token planted
before sign-in is worth nothing after it. The CSRF token of a form is an HMAC of the session
token: a token copied from another session, or made up, does not verify, and signing in or out
changes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from pathlib import Path

from fastapi import Request, Response

from hortus.config import Settings

logger = logging.getLogger("hortus")

COOKIE_NAME = "hortus_session"
COOKIE_MAX_AGE = 14 * 24 * 3600
SECRET_FILE = "secret_key"
MIN_SECRET_LENGTH = 32
KNOWN_WEAK_SECRETS = {"changethis", "change-me", "changeme", "secret", "secret-key", "hortus",
                      "development", "dev", "test"}


class InsecureSecretKey(RuntimeError):
    """The configured secret key is not fit for production."""


def load_secret(settings: Settings) -> bytes:
    """The key that signs cookies: ``HORTUS_SECRET_KEY``, else ``data_dir/secret_key``.

    The file is generated (0600) on first use, so a single machine needs no configuration;
    several machines behind one PostgreSQL must share one ``HORTUS_SECRET_KEY``. In production a
    short or well-known configured key is refused.
    """
    if settings.secret_key:
        value = settings.secret_key.strip()
        if settings.environment == "production" and (
            len(value) < MIN_SECRET_LENGTH or value.lower() in KNOWN_WEAK_SECRETS
        ):
            raise InsecureSecretKey(
                f"HORTUS_SECRET_KEY is too weak for production: use {MIN_SECRET_LENGTH}+ random "
                "characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')."
            )
        return value.encode()
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return _read_secret(path)
    # Written whole under another name, then linked into place: a request (thread or process)
    # racing this one sees no file or the whole key, never a file still being written; the
    # first link wins and everyone reads its key.
    value = secrets.token_urlsafe(48)
    fd, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{SECRET_FILE}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(value + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(staged, path)
        except FileExistsError:
            return _read_secret(path)
    finally:
        os.unlink(staged)
    logger.info("Generated a secret key for session cookies in %s", path)
    return value.encode()


def _read_secret(path: Path) -> bytes:
    value = path.read_text().strip()
    if len(value) < MIN_SECRET_LENGTH:
        raise InsecureSecretKey(f"{path} holds a key shorter than {MIN_SECRET_LENGTH} "
                                "characters; delete it to have a new one generated.")
    return value.encode()


def secret_for(request: Request) -> bytes:
    """The app's secret key (loaded once per app)."""
    state = request.app.state
    secret = getattr(state, "session_secret", None)
    if secret is None:
        secret = state.session_secret = load_secret(state.settings)
    return secret


def _mac(secret: bytes, purpose: str, token: str) -> str:
    digest = hmac.new(secret, f"{purpose}:{token}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_token(secret: bytes, token: str) -> str:
    """The cookie value for a session token."""
    return f"{token}.{_mac(secret, 'session', token)}"


def unsign_token(secret: bytes, value: str | None) -> str | None:
    """The session token in a cookie value, or None when it is missing or its signature is wrong."""
    if not value or len(value) > 200:
        return None
    token, _, signature = value.rpartition(".")
    if not token or not hmac.compare_digest(signature, _mac(secret, "session", token)):
        return None
    return token


def csrf_token(secret: bytes, token: str) -> str:
    """The CSRF token bound to one session token."""
    return _mac(secret, "csrf", token)


def csrf_valid(secret: bytes, token: str | None, presented: str | None) -> bool:
    """Whether a form's CSRF token belongs to this session (constant-time)."""
    if not token or not presented:
        return False
    return hmac.compare_digest(presented.encode(), csrf_token(secret, token).encode())


def set_session_cookie(request: Request, response: Response, secret: bytes, token: str) -> None:
    """Write the session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS or in production."""
    secure = request.url.scheme == "https" or request.app.state.settings.environment == "production"
    response.set_cookie(COOKIE_NAME, sign_token(secret, token), max_age=COOKIE_MAX_AGE,
                        path="/", httponly=True, samesite="lax", secure=secure)
