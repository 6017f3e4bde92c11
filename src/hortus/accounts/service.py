"""Accounts and keys: keyword-only functions over a session (no HTTP here)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from hortus.accounts.keys import NewKey, generate_key, hash_secret, secret_matches, split_api_key
from hortus.accounts.models import Account, ApiKey
from hortus.db.base import utcnow
from hortus.errors import InvalidInput, NotFound


def normalise_email(email: str) -> str:
    """Lower-cased, trimmed e-mail; raises InvalidInput when it is not plausibly an address."""
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or "." not in domain or len(value) > 320 or any(c.isspace() for c in value):
        raise InvalidInput(f"{email!r} is not a valid e-mail address.", error="invalid email")
    return value


def get_account(*, session: Session, email: str) -> Account | None:
    return session.scalar(select(Account).where(Account.email == normalise_email(email)))


def require_account(*, session: Session, email: str) -> Account:
    account = get_account(session=session, email=email)
    if account is None:
        raise NotFound(f"No account {email!r}.", error="unknown account")
    return account


def get_or_create_account(*, session: Session, email: str) -> Account:
    """The account with this e-mail, created (without a password) when missing."""
    account = get_account(session=session, email=email)
    if account is None:
        account = Account(email=normalise_email(email))
        session.add(account)
        session.flush()
    return account


def create_key(*, session: Session, account: Account, label: str | None = None) -> NewKey:
    """A new key for the account; the returned secret is never retrievable again."""
    new = generate_key()
    session.add(
        ApiKey(account_id=account.id, key_id=new.key_id, secret_hash=hash_secret(new.key_secret),
               label=label)
    )
    session.flush()
    return new


def authenticate_pair(*, session: Session, key_id: str | None, secret: str | None) -> ApiKey | None:
    """The live key matching ``key_id`` and ``secret``, or None (unknown, wrong or revoked)."""
    if not key_id or not secret or len(key_id) > 64 or len(secret) > 256:
        return None
    key = session.scalar(
        select(ApiKey).options(joinedload(ApiKey.account)).where(ApiKey.key_id == key_id)
    )
    if key is None:
        # Spend the same hashing work as a hit so timing does not reveal which ids exist.
        secret_matches(secret, "0" * 64)
        return None
    if not secret_matches(secret, key.secret_hash) or key.revoked_at is not None:
        return None
    return key


def authenticate_api_key(*, session: Session, api_key: str | None) -> ApiKey | None:
    """The live key for a single-string key ``"<key_id>.<secret>"``, or None."""
    parts = split_api_key(api_key) if api_key else None
    if parts is None:
        return None
    return authenticate_pair(session=session, key_id=parts[0], secret=parts[1])


def touch_key(*, session: Session, key: ApiKey) -> None:
    """Record that the key was just used."""
    key.last_used_at = utcnow()
