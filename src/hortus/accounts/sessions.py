"""Browser sessions: opened at sign-in, looked up by cookie token, closed at sign-out."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hortus.accounts.models import Account, WebSession
from hortus.db import utcnow

SESSION_LIFETIME = timedelta(days=14)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    """A fresh random session token (also used, unsigned-in, for a visitor's CSRF binding)."""
    return secrets.token_urlsafe(32)


def open_session(*, session: Session, account: Account, token: str,
                 now: datetime | None = None) -> WebSession:
    """Sign the account in under ``token`` (which the caller puts in the cookie)."""
    now = now or utcnow()
    row = WebSession(token_hash=_digest(token), account_id=account.id, created_at=now,
                     expires_at=now + SESSION_LIFETIME)
    session.add(row)
    # Housekeeping: expired sessions of this account go when a new one opens.
    session.execute(delete(WebSession).where(WebSession.account_id == account.id,
                                             WebSession.expires_at < now))
    session.flush()
    return row


def account_for_token(*, session: Session, token: str | None,
                      now: datetime | None = None) -> Account | None:
    """The signed-in account for a session token, or None (unknown, closed or expired)."""
    if not token or len(token) > 128:
        return None
    row = session.scalar(select(WebSession).where(WebSession.token_hash == _digest(token)))
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    return session.get(Account, row.account_id)


def close_session(*, session: Session, token: str | None) -> None:
    """Sign out: the token no longer opens anything."""
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def close_all_sessions(*, session: Session, account_id: int) -> None:
    """Sign the account out everywhere (after a password change)."""
    session.execute(delete(WebSession).where(WebSession.account_id == account_id))
