"""Paging parameters of the Permapeople API: keyset (``last_id``) and offset (``page``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hortus.errors import InvalidInput

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000


def parse_int(name: str, raw: Any, *, minimum: int, maximum: int | None = None) -> int:
    """An integer parameter from a query string or JSON; InvalidInput naming it otherwise."""
    if isinstance(raw, bool):
        raise InvalidInput(f"{name} must be an integer.", error=f"invalid {name}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().lstrip("+-").isdigit() and len(raw.strip()) <= 18:
        value = int(raw.strip())
    else:
        raise InvalidInput(f"{name} must be an integer, got {str(raw)[:50]!r}.",
                           error=f"invalid {name}")
    if value < minimum:
        raise InvalidInput(f"{name} must be at least {minimum}.", error=f"invalid {name}")
    if maximum is not None and value > maximum:
        raise InvalidInput(f"{name} must be at most {maximum}.", error=f"invalid {name}")
    return value


def parse_per_page(raw: Any) -> int:
    """``per_page``: default 100; larger values are clamped to 100, as the seed says."""
    if raw is None or raw == "":
        return MAX_PER_PAGE
    return min(parse_int("per_page", raw, minimum=1), MAX_PER_PAGE)


def parse_page(raw: Any) -> int:
    if raw is None or raw == "":
        return 1
    return parse_int("page", raw, minimum=1, maximum=MAX_PAGE)


def parse_datetime(name: str, raw: Any) -> datetime:
    """An ISO 8601 timestamp (``Z`` accepted); naive times are taken as UTC."""
    if not isinstance(raw, str) or len(raw) > 64:
        raise InvalidInput(f"{name} must be an ISO 8601 datetime string.", error=f"invalid {name}")
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO 8601 datetime, e.g. 2024-05-01T00:00:00Z; got {raw[:40]!r}.",
            error=f"invalid {name}",
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class OffsetPage:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def describe(self, total: int) -> dict[str, int]:
        """The seed's offset ``pagination`` object."""
        return {
            "page": self.page,
            "per_page": self.per_page,
            "total": total,
            "total_pages": math.ceil(total / self.per_page) if total else 0,
        }
