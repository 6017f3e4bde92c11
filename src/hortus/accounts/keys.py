"""API key material: generation, hashing and constant-time verification."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_ID_PREFIX = "hk"


@dataclass(frozen=True)
class NewKey:
    """A key as shown once to its owner."""

    key_id: str
    key_secret: str

    @property
    def api_key(self) -> str:
        """The single string for Pl@ntNet's ``api-key`` parameter and PEAT's ``Api-Key`` header."""
        return f"{self.key_id}.{self.key_secret}"


def new_secret() -> str:
    """A fresh key secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def generate_key() -> NewKey:
    """A fresh key id (public) and secret (256 random bits)."""
    return NewKey(key_id=KEY_ID_PREFIX + secrets.token_hex(10), key_secret=new_secret())


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of a secret: what the database stores."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    """Constant-time comparison of a presented secret against a stored digest."""
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def split_api_key(api_key: str) -> tuple[str, str] | None:
    """``"<key_id>.<secret>"`` → ``(key_id, secret)``; None when it has not that shape."""
    key_id, sep, secret = api_key.strip().partition(".")
    if not sep or not key_id or not secret or len(api_key) > 256:
        return None
    return key_id, secret
