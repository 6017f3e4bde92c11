"""Passwords: strength rules and argon2id hashing."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hortus.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; this bounds the work a request can ask for

# The most common passwords of public breach corpora that are 10+ characters long (shorter
# ones fail the length rule anyway), plus Hortus-flavoured guesses.
COMMON_PASSWORDS = frozenset([
    "1234567890", "0123456789", "1234567891", "12345678910", "0987654321", "1q2w3e4r5t",
    "1qaz2wsx3edc", "qwertyuiop", "qwerty1234", "qwerty12345", "qwertyuiop1", "asdfghjkl1",
    "zxcvbnm123", "password12", "password123", "password1234", "passw0rd123", "iloveyou12",
    "iloveyou123", "football12", "baseball12", "princess12", "starwars12", "letmein123",
    "welcome123", "welcome1234", "changeme123", "administrator", "admin12345", "admin123456",
    "trustno1234", "abc1234567", "abcdefghij", "abcd123456", "a1b2c3d4e5", "monkey1234",
    "dragon1234", "sunshine12", "superman12", "hortus1234", "hortus12345", "plantnet123",
    "gardening1", "gardening123", "password!", "password!!", "p@ssw0rd123",
])


# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~30 ms a login on one
# core, so a small server is not made to stall by a burst of sign-ins.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# A hash of nothing anyone knows, checked when an e-mail is unknown so both cases take as long.
_DUMMY_HASH = ("$argon2id$v=19$m=19456,t=2,p=1$aG9ydHVzLXRpbWluZw"
               "$2Hm3lUoS0w8xRJ3y4Rk0Bq4T7lQ3qfvYzUXg0v9qf1M")


def check_strength(password: str, *, email: str | None = None) -> None:
    """Raise InvalidInput saying what is wrong with a password that is empty, short or guessable.

    Rules: at least 10 characters, not of a single character class (only digits, only letters of
    one case, ...), not a well-known password, not the e-mail address.
    """
    if not password:
        raise InvalidInput("Choose a password.", error="weak password")
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"The password is too short: use at least {MIN_LENGTH} characters.",
                           error="weak password")
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"The password is too long (over {MAX_LENGTH} characters).",
                           error="weak password")
    classes = sum([any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password),
                   any(not c.isalnum() for c in password)])
    if classes < 2 or len(set(password)) < 4:
        raise InvalidInput("The password is too simple: mix letters with digits, capitals or "
                           "symbols.", error="weak password")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        raise InvalidInput("This password is one of the most common ones; choose another.",
                           error="weak password")
    if email and (lowered == email.lower() or lowered == email.lower().partition("@")[0]):
        raise InvalidInput("The password must not be your e-mail address.", error="weak password")


def hash_password(password: str) -> str:
    """An argon2id hash (with its own salt and parameters) to store."""
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether the password matches; spends the same work when there is no hash to check."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash uses older parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)
