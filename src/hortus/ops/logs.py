"""Logs: one JSON object a line (or plain text), each with the request's id, and no secrets.

:class:`RedactSecrets` is set on every handler ``hortus serve`` configures, so it sees every
record of every logger (uvicorn's access log included): it masks API keys (the ``api-key`` query
parameter, the ``Api-Key`` and Permapeople headers, and anything shaped like a Hortus key),
passwords, CSRF tokens and session cookies, in the message, its arguments and its traceback.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

#: The id of the request being served (set by :class:`hortus.ops.observe.RequestObserver`).
request_id: ContextVar[str | None] = ContextVar("hortus_request_id", default=None)

MASK = "[redacted]"
_SECRET_NAMES = (r"api[-_ ]?key|apikey|key|x-permapeople-key-secret|password|passwd|"
                 r"password_confirm|secret|secret_key|token|csrf_token|access_token|session|"
                 r"hortus_session")
_KEY_ID = re.compile(r"^(hk[0-9a-f]{20})\.")


def _masked_value(match: re.Match[str]) -> str:
    """``name=[redacted]``, keeping a Hortus key's public id (``name=hk….[redacted]``)."""
    key_id = _KEY_ID.match(match.group(2))
    return f"{match.group(1)}={key_id.group(1) + '.' if key_id else ''}{MASK}"


_PATTERNS: list[tuple[re.Pattern[str], Any]] = [
    # name=value in a query string, form or cookie header
    (re.compile(rf"(?i)(?<![\w-])({_SECRET_NAMES})=([^&\s\"';,#]*)"), _masked_value),
    # name: value in a header dump or a dict repr ('Api-Key': 'x')
    (re.compile(r"(?i)((?:api[-_]key|x-permapeople-key-secret|authorization|cookie|"
                r"set-cookie)['\"]?\s*:\s*['\"]?)(?:bearer\s+|basic\s+)?[^\s'\",;&]+"),
     rf"\1{MASK}"),
    # a Hortus key anywhere (id.secret): the id stays, it is public
    (re.compile(r"\b(hk[0-9a-f]{20})\.[A-Za-z0-9_-]{8,}"), rf"\1.{MASK}"),
    (re.compile(r"\$argon2(?:id|i|d)\$[^\s'\"]+"), MASK),
]


def redact(text: str) -> str:
    """``text`` with every secret-looking value masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecrets(logging.Filter):
    """Masks secrets in a record's message, arguments and traceback (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, and for uvicorn's
    access log the client, method, path and status as fields of their own."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get() or "-",
        }
        if (record.name == "uvicorn.access" and isinstance(record.args, tuple)
                and len(record.args) == len(_ACCESS_FIELDS)):
            entry.update(zip(_ACCESS_FIELDS, record.args, strict=True))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message`` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return redact(super().format(record))


def logging_config(*, level: str = "info", log_format: str = "json",
                   access_log: bool = True) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``hortus serve`` (and uvicorn's ``log_config``):
    one stderr handler, secrets masked, request ids attached."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
               "formatter": log_format, "filters": ["request_id", "redact"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactSecrets}, "request_id": {"()": RequestIdFilter}},
        "formatters": {"json": {"()": JsonFormatter}, "text": {"()": TextFormatter}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["default"] if access_log else [],
                               "level": "INFO" if access_log else "WARNING",
                               "propagate": False},
            "hortus": {"handlers": ["default"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["default"], "level": level},
    }
