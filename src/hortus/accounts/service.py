"""Accounts and keys: keyword-only functions over a session (no HTTP here)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from hortus.accounts import keycache, passwords
from hortus.accounts.exposure import (
    origin_allowed,
    origin_host,
    parse_domains,
    parse_ips,
    stored_list,
)
from hortus.accounts.keys import (
    NewKey,
    generate_key,
    hash_secret,
    new_secret,
    secret_matches,
    split_api_key,
)
from hortus.accounts.models import Account, ApiKey
from hortus.db.base import utcnow
from hortus.errors import InvalidInput, NotFound

# last_used_at is written at most this often per key, so reads stay reads.
TOUCH_INTERVAL = timedelta(minutes=5)

# A public handle: ASCII letters and digits (no look-alike letters from other scripts), dots,
# underscores and hyphens, starting with a letter or digit (so it never reads as a CLI option).
HANDLE_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,31}")
HANDLE_HELP = ("3 to 32 characters: letters A-Z and a-z, digits, dots, underscores and "
               "hyphens, starting with a letter or a digit")


def normalise_email(email: str) -> str:
    """Lower-cased, trimmed e-mail; raises InvalidInput when it is not plausibly an address."""
    value = email.strip().lower()
    local, at, domain = value.partition("@")
    if (not at or not local or "." not in domain or len(value) > 320
            or any(c.isspace() for c in value)):
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


def plausible_pair(key_id: str | None, secret: str | None) -> bool:
    """Whether a presented id and secret are worth looking up at all."""
    return bool(key_id and secret and len(key_id) <= 64 and len(secret) <= 256)


def find_key(*, session: Session, key_id: str) -> ApiKey | None:
    """The key with this id (revoked or not), its account loaded; None when there is none."""
    return session.scalar(
        select(ApiKey).options(joinedload(ApiKey.account)).where(ApiKey.key_id == key_id)
    )


def live_key_for_secret(key: ApiKey | None, secret: str) -> ApiKey | None:
    """``key`` when ``secret`` is its secret and it is not revoked, else None."""
    if key is None:
        # Spend the same hashing work as a hit so timing does not reveal which ids exist.
        secret_matches(secret, "0" * 64)
        return None
    if not secret_matches(secret, key.secret_hash) or key.revoked_at is not None:
        return None
    return key


def authenticate_pair(*, session: Session, key_id: str | None, secret: str | None) -> ApiKey | None:
    """The live key matching ``key_id`` and ``secret``, or None (unknown, wrong or revoked)."""
    if not plausible_pair(key_id, secret):
        return None
    assert key_id is not None and secret is not None
    return live_key_for_secret(find_key(session=session, key_id=key_id), secret)


def authenticate_api_key(*, session: Session, api_key: str | None) -> ApiKey | None:
    """The live key for a single-string key ``"<key_id>.<secret>"``, or None."""
    parts = split_api_key(api_key) if api_key else None
    if parts is None:
        return None
    return authenticate_pair(session=session, key_id=parts[0], secret=parts[1])


def needs_touch(key: ApiKey) -> bool:
    """Whether the key's last use is older than TOUCH_INTERVAL (or never recorded)."""
    return key.last_used_at is None or utcnow() - key.last_used_at >= TOUCH_INTERVAL


def touch_key(*, session: Session, key: ApiKey) -> None:
    """Record that the key was just used (skipped when it was recorded in the last minutes)."""
    if not needs_touch(key):
        return
    now = utcnow()
    session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    key.last_used_at = now


# --- people ---------------------------------------------------------------------------------
#
# A password hash (argon2id, ~30 ms of one core) is never computed inside a transaction: on
# SQLite a write transaction holds the one write lock every quota count needs, and even a read
# transaction pins a snapshot. Callers hash first (:func:`new_password_hash`), then write.


def new_password_hash(*, email: str, password: str) -> str:
    """The hash to store for a new password of ``email``, after the strength rules
    (InvalidInput). Call it outside any transaction."""
    passwords.check_strength(password, email=normalise_email(email))
    return passwords.hash_password(password)


def sign_up(*, session: Session, email: str, password_hash: str) -> Account:
    """A new account with a password hashed by :func:`new_password_hash`; InvalidInput when
    the e-mail is taken."""
    address = normalise_email(email)
    if get_account(session=session, email=address) is not None:
        raise InvalidInput(f"An account with the e-mail {address} already exists; sign in "
                           "instead.", error="duplicate account")
    account = Account(email=address, password_hash=password_hash)
    session.add(account)
    session.flush()
    return account


def set_password(*, session: Session, account: Account, password_hash: str) -> None:
    """Replace an account's password with one hashed by :func:`new_password_hash`."""
    account.password_hash = password_hash
    session.flush()


@dataclass(frozen=True)
class StoredPassword:
    """An account's id and password hash as read, to verify once the transaction is over."""

    account_id: int
    password_hash: str | None


def stored_password(*, session: Session, email: str) -> StoredPassword | None:
    """The account's stored password hash, or None when no account has this e-mail (or it is
    not an e-mail address)."""
    try:
        address = normalise_email(email)
    except InvalidInput:
        return None
    row = session.execute(select(Account.id, Account.password_hash)
                          .where(Account.email == address)).first()
    return StoredPassword(account_id=row[0], password_hash=row[1]) if row else None


def list_accounts(*, session: Session) -> list[Account]:
    return list(session.scalars(select(Account).order_by(Account.id)))


# --- public names ---------------------------------------------------------------------------


def normalise_handle(handle: str | None) -> str | None:
    """The handle as it will be stored (trimmed, case kept), None for "no handle"; raises
    InvalidInput naming the rule when it breaks it."""
    value = (handle or "").strip()
    if not value:
        return None
    if not HANDLE_RULE.fullmatch(value):
        raise InvalidInput(f"{value[:64]!r} cannot be a handle: use {HANDLE_HELP}.",
                           error="invalid handle")
    return value


def set_handle(*, session: Session, account: Account, handle: str | None) -> Account:
    """Choose (or, with None or "", drop) the account's public handle.

    Handles are unique whatever their case; InvalidInput when another account has it. The
    unique index settles two accounts racing for one handle.
    """
    value = normalise_handle(handle)
    row = session.get(Account, account.id)  # ``account`` may come from another session
    if row is None:
        raise NotFound("The account no longer exists.", error="unknown account")
    if value is not None:
        taken = session.scalar(select(Account.id).where(
            func.lower(Account.handle) == value.lower(), Account.id != row.id))
        if taken is not None:
            raise _handle_taken(value)
    try:
        with session.begin_nested():  # a lost race rolls back to here, not the whole transaction
            row.handle = value
    except IntegrityError:
        raise _handle_taken(value or "") from None
    return row


def _handle_taken(handle: str) -> InvalidInput:
    return InvalidInput(f"The handle {handle!r} is taken (handles ignore case): choose another.",
                        error="handle taken")


def public_name(*, account_id: int | None, handle: str | None) -> str | None:
    """How an account is named to everyone else: its handle, else ``"anonymous #<id>"``; None
    when there is no account (imported data, a deleted account). Never the e-mail.

    The placeholder is stable (it needs no secret, so rotating the cookie key renames no one,
    and every process agrees), and no handle can imitate it (handles have no space or ``#``).
    """
    if account_id is None:
        return None
    return handle or f"anonymous #{account_id}"


# --- keys -----------------------------------------------------------------------------------


def list_keys(*, session: Session, account: Account, include_revoked: bool = False) -> list[ApiKey]:
    """The account's keys, newest first."""
    query = select(ApiKey).where(ApiKey.account_id == account.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query.order_by(ApiKey.created_at.desc(), ApiKey.id.desc())))


def get_own_key(*, session: Session, account: Account, key_id: str) -> ApiKey:
    """The account's live key ``key_id``; NotFound for unknown, revoked or another's key.

    Another account's key gets the same answer as an unknown one, so ids cannot be probed.
    """
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None or key.account_id != account.id or key.revoked_at is not None:
        raise NotFound(f"You have no active API key {key_id[:64]!r}.", error="unknown key")
    return key


def revoke_key(*, session: Session, account: Account, key_id: str) -> ApiKey:
    """Revoke a key: it stops working for every API, at once in this process and within
    ``keycache.TTL_SECONDS`` in any other (a running server, when the CLI revokes)."""
    key = get_own_key(session=session, account=account, key_id=key_id)
    key.revoked_at = utcnow()
    session.flush()
    keycache.forget_all()
    return key


def rotate_key(*, session: Session, account: Account, key_id: str) -> NewKey:
    """Give a live key a new secret; its id, label and exposure settings stay as they were.

    The old secret stops working at once in this process (and within
    ``keycache.TTL_SECONDS`` in any other); the new one is returned, never retrievable again.
    """
    key = get_own_key(session=session, account=account, key_id=key_id)
    new = NewKey(key_id=key.key_id, key_secret=new_secret())
    key.secret_hash = hash_secret(new.key_secret)
    session.flush()
    keycache.forget_all()
    return new


def set_exposure(*, session: Session, account: Account, key_id: str, expose: bool,
                 domains: str, ips: str) -> ApiKey:
    """Save a key's "expose my API key" switch and its authorized domains and IPs.

    Both lists are validated before anything changes; InvalidInput names every bad line.
    """
    key = get_own_key(session=session, account=account, key_id=key_id)
    problems: list[str] = []
    parsed: dict[str, list[str]] = {}
    for name, text, parse in (("domains", domains, parse_domains), ("ips", ips, parse_ips)):
        try:
            parsed[name] = parse(text)
        except InvalidInput as exc:
            problems.append(exc.message)
    if problems:
        raise InvalidInput(" ".join(problems), error="invalid exposure")
    key.expose = expose
    key.authorized_domains = "\n".join(parsed["domains"])
    key.authorized_ips = "\n".join(parsed["ips"])
    session.flush()
    keycache.forget_all()
    return key


def key_exposure(key: ApiKey) -> dict[str, object]:
    """A key's exposure settings as lists (Pl@ntNet's ``security`` object, in our words)."""
    return {"expose": bool(key.expose), "domains": stored_list(key.authorized_domains),
            "ips": stored_list(key.authorized_ips)}


def exposed_origin_allowed(*, session: Session, origin: str) -> bool:
    """Whether some live exposed key authorizes this origin (CORS preflights for header keys)."""
    parsed = origin_host(origin)
    if parsed is None:
        return False
    host = parsed[0]
    # Narrow in SQL by the host's last label, then check each candidate exactly.
    tail = host.rsplit(".", 1)[-1].replace("%", "").replace("_", "")
    candidates = session.scalars(
        select(ApiKey.authorized_domains).where(
            ApiKey.expose.is_(True), ApiKey.revoked_at.is_(None),
            ApiKey.authorized_domains.contains(tail, autoescape=True),
        )
    )
    return any(origin_allowed(stored_list(text), origin) for text in candidates)
