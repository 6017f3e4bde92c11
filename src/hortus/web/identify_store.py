"""Keeping the identification page's results, and counting signed-out visitors' identifications.

* A result is saved once (:func:`save_identification`) and read by its random id
  (:func:`get_identification`); its author finds it in :func:`history` and may delete it
  (:func:`delete_identification`).
* A signed-out visitor takes one unit of their address's daily allowance before any model work
  (:func:`take_visitor_unit`: one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE count < limit``
  statement, so concurrent posts, from one process or several on one PostgreSQL, can never
  spend past it) and gets it back when the identification fails (:func:`refund_visitor_unit`).
* The identification service charges an account; signed-out visitors are charged to one
  password-less account, :data:`VISITORS_EMAIL` (:func:`visitors_account_id`), so together
  they can never use more than one account's daily quota, and share one account's places for
  image work (``image_work_per_account``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from hortus.accounts import service as accounts
from hortus.db import Database, utcnow
from hortus.errors import HortusError
from hortus.web.identify_models import WebIdentification, WebVisitorCount

VISITORS_EMAIL = "web-visitors@hortus.invalid"
_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")


class VisitorQuotaExceeded(HortusError):
    """429: this address has made all its signed-out identifications for today."""

    status = 429
    error = "too many requests"

    def __init__(self, limit: int, reset_seconds: int) -> None:
        super().__init__(f"This address has made its {limit} identifications for today.")
        self.limit = limit
        self.reset_seconds = reset_seconds


# ------------------------------------------------------------------------------ results


def new_identification_id() -> str:
    """A random, unguessable id (22 URL-safe characters: 128 bits)."""
    return secrets.token_urlsafe(16)


def save_identification(*, database: Database, identification_id: str,
                        account_id: int | None, language: str, model_version: str,
                        photos: list[dict[str, Any]], candidates: list[dict[str, Any]]) -> None:
    """Store one result under ``identification_id`` (:func:`new_identification_id`)."""
    with database.write() as session:
        session.add(WebIdentification(
            id=identification_id, account_id=account_id, created_at=utcnow(),
            language=language, model_version=model_version[:200], photos=photos,
            candidates=candidates))


def get_identification(*, database: Database, identification_id: str) -> WebIdentification | None:
    """The result with this id, or None (also for a string that cannot be an id)."""
    if not _ID.fullmatch(identification_id):
        return None
    with database.read() as session:
        return session.get(WebIdentification, identification_id)


@dataclass(frozen=True)
class HistoryPage:
    """One page of a person's identifications, newest first."""

    items: list[WebIdentification]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def history(*, database: Database, account_id: int, page: int, per_page: int) -> HistoryPage:
    """Page ``page`` (from 1) of the account's identifications, newest first."""
    with database.read() as session:
        total = session.scalar(select(func.count()).select_from(WebIdentification).where(
            WebIdentification.account_id == account_id)) or 0
        items = list(session.scalars(
            select(WebIdentification).where(WebIdentification.account_id == account_id)
            .order_by(WebIdentification.created_at.desc(), WebIdentification.id.desc())
            .offset((page - 1) * per_page).limit(per_page)))
    return HistoryPage(items=items, page=page, per_page=per_page, total=int(total))


def photo_keys(identification: WebIdentification) -> set[str]:
    """The media keys of a result's photos (every size)."""
    keys: set[str] = set()
    for photo in identification.photos:
        keys.update(k for k in (photo.get("key"), photo.get("thumb")) if isinstance(k, str))
    return keys


def delete_identification(*, database: Database, account_id: int,
                          identification_id: str) -> set[str] | None:
    """Delete the account's result; returns the media keys of its photos, for the caller to
    delete from the media store (each result's photos are stored under keys of its own:
    :func:`hortus.web.identify_photos.photo_media_keys`), or None when the account has no
    such result."""
    found = get_identification(database=database, identification_id=identification_id)
    if found is None or found.account_id != account_id:
        return None
    with database.write() as session:
        session.execute(delete(WebIdentification).where(
            WebIdentification.id == identification_id,
            WebIdentification.account_id == account_id))
    return photo_keys(found)


# ------------------------------------------------------------------- signed-out visitors


def address_subject(address: str) -> str:
    """What a client address is counted by: the SHA-256 of the address, or of its /64 network
    for IPv6 (one host usually holds a whole /64, and could otherwise rotate through it)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        text = address
    else:
        if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
            parsed = parsed.ipv4_mapped
        if isinstance(parsed, ipaddress.IPv6Address):
            text = str(ipaddress.ip_network(f"{parsed}/64", strict=False))
        else:
            text = str(parsed)
    return hashlib.sha256(f"web-visitor:{text}".encode()).hexdigest()


def _day(now: datetime) -> tuple[str, datetime]:
    """The UTC day's key and when it ends."""
    now = now.astimezone(UTC)
    start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return start.date().isoformat(), start + timedelta(days=1)


def _insert(dialect: str):  # type: ignore[no-untyped-def]
    return (postgresql if dialect == "postgresql" else sqlite).insert(WebVisitorCount)


def take_visitor_unit(*, database: Database, address: str, limit: int,
                      now: datetime | None = None) -> int:
    """Count one identification of a signed-out ``address`` today; returns how many it has
    left. Raises VisitorQuotaExceeded (counting nothing) when it has none.

    One statement: insert the day's row with 1, or add 1 to it while it is under ``limit``;
    no row written means none was left.
    """
    now = now or utcnow()
    day, ends = _day(now)
    reset = max(1, int((ends - now).total_seconds()))
    if limit <= 0:
        raise VisitorQuotaExceeded(limit, reset)
    table = WebVisitorCount.__table__
    statement = (
        _insert(database.dialect)
        .values(subject=address_subject(address), day=day, count=1)
        .on_conflict_do_update(index_elements=[table.c.subject, table.c.day],
                               set_={"count": table.c.count + 1},
                               where=table.c.count < limit)
        .returning(table.c.count)
    )
    with database.write_connection() as connection:
        count = connection.execute(statement).scalar()
        if count == 1:  # the address's first today: a good moment to forget older days
            connection.execute(delete(WebVisitorCount).where(WebVisitorCount.day < day))
    if count is None:
        raise VisitorQuotaExceeded(limit, reset)
    return max(0, limit - int(count))


def refund_visitor_unit(*, database: Database, address: str, taken_at: datetime) -> None:
    """Give back the unit taken at ``taken_at`` (into that day's count, never below 0)."""
    day, _ = _day(taken_at)
    with database.write() as session:
        session.execute(update(WebVisitorCount).where(
            WebVisitorCount.subject == address_subject(address), WebVisitorCount.day == day,
            WebVisitorCount.count > 0).values(count=WebVisitorCount.count - 1))


def visitor_remaining(*, database: Database, address: str, limit: int,
                      now: datetime | None = None) -> int:
    """Identifications the signed-out ``address`` has left today."""
    day, _ = _day(now or utcnow())
    with database.read() as session:
        used = session.scalar(select(WebVisitorCount.count).where(
            WebVisitorCount.subject == address_subject(address), WebVisitorCount.day == day))
    return max(0, limit - int(used or 0))


_visitors_lock = threading.Lock()
_visitors: weakref.WeakKeyDictionary[Database, int] = weakref.WeakKeyDictionary()


def visitors_account_id(*, database: Database) -> int:
    """The id of the account signed-out identifications are charged to (created, without a
    password, on first use: nobody can sign in to it)."""
    with _visitors_lock:
        known = _visitors.get(database)
    if known is not None:
        return known
    for _ in range(2):  # two first visitors at once: one insert wins, the other reads it
        try:
            with database.write() as session:
                account = accounts.get_or_create_account(session=session, email=VISITORS_EMAIL)
                account_id = account.id
            break
        except IntegrityError:
            continue
    else:  # pragma: no cover - the second try always finds the row
        raise RuntimeError("the visitors' account could not be created")
    with _visitors_lock:
        _visitors[database] = account_id
    return account_id

