"""Signing people in and up, with throttling, over a Database (no HTTP here).

Password hashing and checking (argon2id, ~30 ms of one core and 19 MiB) run outside any
database transaction: the stored hash is read in a short read that is closed before it is
checked, and a new hash (sign-up, or a stored hash with older parameters) is computed before
the write transaction opens. So a burst of sign-ins never holds SQLite's write lock, which
every quota count needs, nor pins a snapshot or a PostgreSQL transaction while hashing. The
caller runs these functions in a worker thread behind a small limiter
(``password_hash_concurrency``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hortus.accounts import passwords, service, sessions, throttle
from hortus.accounts.models import Account
from hortus.accounts.throttle import ThrottlePolicy
from hortus.db import Database


@dataclass(frozen=True)
class SignedIn:
    account_id: int
    token: str  # the new session token, for the cookie


def known_wait(*, email: str, address: str) -> float:
    """The wait this process already knows of (no database read); 0: ask :func:`sign_in_wait`."""
    return throttle.known_wait(email=email, address=address)


def sign_in_wait(*, database: Database, email: str, address: str) -> float:
    """Seconds before this e-mail may try to sign in from this address (0: now)."""
    with database.read() as session:
        return throttle.wait_seconds(session=session, email=email, address=address)


@dataclass(frozen=True)
class Throttled:
    wait: float  # seconds


def sign_in(*, database: Database, policy: ThrottlePolicy, email: str, password: str,
            address: str, old_token: str | None) -> SignedIn | Throttled | None:
    """Check the password; on success open a new session (closing ``old_token``'s) and clear
    the account's failures, else count a failure. None when the credentials are wrong.

    The wait is checked again here, just before hashing: tries that queued for the hashing
    limiter while the failures that now block them were being counted are refused too.
    """
    for _ in range(2):  # a second time only when the hash changed while it was checked
        with database.read() as session:
            wait = throttle.known_wait(email=email, address=address) or throttle.wait_seconds(
                session=session, email=email, address=address)
            if wait:
                return Throttled(wait)
            stored = service.stored_password(session=session, email=email)
        # No transaction is open while the password is checked (and, when the stored hash
        # has older parameters, hashed again). An unknown e-mail costs the same check.
        stored_hash = stored.password_hash if stored is not None else None
        right = passwords.verify_password(password, stored_hash) and stored is not None
        rehashed = (passwords.hash_password(password)
                    if right and passwords.needs_rehash(stored_hash or "") else None)
        with database.write() as session:
            if not right or stored is None:
                throttle.record_failure(session=session, policy=policy, email=email,
                                        address=address)
                return None
            account = session.get(Account, stored.account_id)
            if account is None:  # deleted in between
                return None
            if account.password_hash != stored_hash:
                # A new password, or another sign-in's new hash, while this one was checked:
                # check the password against what is stored now.
                continue
            if rehashed is not None:
                account.password_hash = rehashed
            throttle.record_success(session=session, email=email)
            if old_token:
                sessions.close_session(session=session, token=old_token)
            token = sessions.new_token()
            sessions.open_session(session=session, account=account, token=token)
            return SignedIn(account_id=account.id, token=token)
    return None


def take_sign_up(*, database: Database, policy: ThrottlePolicy, address: str) -> float:
    """Count a sign-up from ``address``: 0 when it may go ahead, else seconds to wait."""
    with database.write() as session:
        return throttle.take_sign_up(session=session, policy=policy, address=address)


def sign_up(*, database: Database, email: str, password: str) -> None:
    """Create an account for ``email`` when no account has it; when one does, change nothing.

    Both cases hash the password and take the same steps, so neither the answer nor its time
    tells whether an address has an account. The caller has checked the address and the
    password's strength (:func:`service.normalise_email`, :func:`passwords.check_strength`).
    """
    address = service.normalise_email(email)
    password_hash = passwords.hash_password(password)
    with database.write() as session:
        if service.get_account(session=session, email=address) is None:
            session.add(Account(email=address, password_hash=password_hash))
            session.flush()
