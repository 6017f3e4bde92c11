"""Tables of the accounts domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hortus.db.base import Base, UTCDateTime, utcnow


class Account(Base):
    """A person. The e-mail is private (sign-in, operators); others see only the ``handle``
    the person chose, or a placeholder (:func:`hortus.accounts.service.public_name`)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # Kept as typed; unique whatever the case (the index below).
    handle: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    keys: Mapped[list[ApiKey]] = relationship(back_populates="account")


Index("ix_accounts_handle_lower", func.lower(Account.handle), unique=True)


class ApiKey(Base):
    """One key usable by all three APIs.

    ``key_id`` is public (Permapeople's ``x-permapeople-key-id``); the secret is only ever stored
    as a SHA-256 digest (it is 256 random bits, so a slow hash adds nothing). The single-string
    form used by Pl@ntNet's ``api-key`` and PEAT's ``Api-Key`` is ``"<key_id>.<secret>"``.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expose: Mapped[bool] = mapped_column(Boolean, default=False)
    authorized_domains: Mapped[str] = mapped_column(Text, default="")
    authorized_ips: Mapped[str] = mapped_column(Text, default="")

    account: Mapped[Account] = relationship(back_populates="keys")


class Quota(Base):
    """A per-account override of an API's request limit (defaults come from settings)."""

    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("account_id", "api"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    api: Mapped[str] = mapped_column(String(32))  # identify | analysis | plants
    limit: Mapped[int] = mapped_column(Integer)


class UsageCounter(Base):
    """Requests counted for one account, API and period (a day or a month, by its start)."""

    __tablename__ = "usage_counters"
    __table_args__ = (UniqueConstraint("account_id", "api", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    api: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[str] = mapped_column(String(10))  # ISO date of the period's first day
    count: Mapped[int] = mapped_column(Integer, default=0)


class WebSession(Base):
    """A signed-in browser session. The cookie carries a random id; only its digest is stored,
    so a leaked database cannot be replayed as cookies. Deleting the row signs the browser out.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SignInThrottle(Base):
    """Failed sign-ins (or sign-ups) of one subject: an account's e-mail or a client address.

    The subject is stored as a SHA-256 digest, so the table names no address. Rows are shared
    by every process and machine on the database, and survive restarts
    (:mod:`hortus.accounts.throttle`).
    """

    __tablename__ = "sign_in_throttle"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # account | address | sign-up
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
