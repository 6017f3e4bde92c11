"""The uvicorn options ``hortus serve`` runs with, all read from Settings in one place."""

from __future__ import annotations

import math
from typing import Any

from hortus.config import Settings
from hortus.server.protocol import ConnectionLimits, GuardedHttpToolsProtocol, protocol_for

# By import path, so that ``--workers N`` (spawned processes) find the class; each process
# reads the limits from its environment, like the app's own Settings.
PROTOCOL_PATH = "hortus.server.protocol:GuardedHttpToolsProtocol"


def uvicorn_options(settings: Settings, *, in_process: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``: the guarded httptools
    protocol, keep-alive and graceful-shutdown timeouts, no proxy headers of uvicorn's own.

    ``in_process``: the protocol class is built from ``settings`` themselves (for a server
    started inside this process, e.g. in tests), not from the environment.
    """
    protocol: type[GuardedHttpToolsProtocol] | str = (
        protocol_for(ConnectionLimits.from_settings(settings)) if in_process else PROTOCOL_PATH
    )
    return {
        "http": protocol,
        # uvicorn's own proxy-header handling stays off (its default trusts X-Forwarded-For
        # from 127.0.0.1, and FORWARDED_ALLOW_IPS from the environment): the app reads the
        # forwarding headers itself, from HORTUS_TRUSTED_PROXIES only (hortus.server.forwarded).
        "proxy_headers": False,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_timeout),
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }
