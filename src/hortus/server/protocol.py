"""uvicorn's httptools protocol with limits: header bytes, header and body read timeouts.

httptools (llhttp) puts no bound on a header: it gathers a value across reads until its end, so
one request carrying a 200 MB header holds 200 MB and keeps the event loop busy copying it. And
uvicorn times out only idle keep-alive connections: a client that sends half its headers, or
pauses inside a body, or opens a connection and says nothing, holds it for ever.

:class:`GuardedHttpToolsProtocol` counts the bytes fed to the parser until the headers are
complete and answers 431 (and closes) past ``max_header_bytes``; gives the request line and
headers ``header_timeout`` seconds from the connection's opening (or a keep-alive request's first
byte); and gives a body ``body_timeout`` seconds between two reads (408 and a close). Parsing is
still httptools' own, so the fast path costs one comparison and one addition per read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from hortus.config import Settings, get_settings


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-request limits of one connection (read from Settings)."""

    max_header_bytes: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(max_header_bytes=settings.max_header_bytes,
                   header_timeout=settings.header_timeout, body_timeout=settings.body_timeout)


_ENV_LIMITS: ConnectionLimits | None = None


def _limits_from_environment() -> ConnectionLimits:
    global _ENV_LIMITS
    if _ENV_LIMITS is None:
        _ENV_LIMITS = ConnectionLimits.from_settings(get_settings())
    return _ENV_LIMITS


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol bounding header bytes and the time to send headers and bodies.

    ``limits`` is None on this class: each process reads them from its environment (what
    ``hortus serve`` and its workers run, by import path). :func:`protocol_for` makes a subclass
    with fixed limits, for a server built in-process from a Settings object.
    """

    limits: ClassVar[ConnectionLimits | None] = None

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limits = self.limits or _limits_from_environment()
        self._reading_head = True  # before a request's headers are complete
        self._head_bytes = 0
        self._messages = 0  # requests begun on this connection
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # --- connection events ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that never speaks is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._reading_head:
            super().data_received(data)
            self._after_body_read()
            return
        if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
            self._arm_head_timer()  # the first byte of a keep-alive connection's next request
        room = self._limits.max_header_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            self._after_body_read()
            return
        # Feed no more than one byte past the limit: either the headers end within it, or the
        # request is refused before the parser holds more.
        head, rest = data[: room + 1], data[room + 1:]
        message = self._messages
        self._head_bytes += len(head)
        super().data_received(head)
        if self.transport.is_closing():
            return
        if self._reading_head and self._messages == message and self._head_bytes > room:
            self._refuse(431, "Request headers are too large.")
            return
        if rest:
            self.data_received(rest)
        else:
            self._after_body_read()

    # --- parser callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._messages += 1

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel(self._head_timer)
        self._head_timer = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
        self._head_bytes = 0
        self._cancel(self._body_timer)
        self._body_timer = None

    # --- timers -----------------------------------------------------------------------------

    def _after_body_read(self) -> None:
        """While a body is being read, each read restarts its inactivity timer."""
        if not self._reading_head and not self.transport.is_closing():
            self._cancel(self._body_timer)
            self._body_timer = self.loop.call_later(self._limits.body_timeout,
                                                    self._body_timed_out)

    def _arm_head_timer(self) -> None:
        self._cancel(self._head_timer)
        self._head_timer = self.loop.call_later(self._limits.header_timeout,
                                                self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._reading_head:
            return
        if self._head_bytes == 0:
            self.transport.close()  # nothing asked: nothing to answer
        else:
            self._refuse(408, "The request headers took too long.")

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self._reading_head or self.cycle is None:
            return
        if self.flow.read_paused or self.cycle.waiting_for_100_continue:
            # The application is not reading yet: the client is not the one waiting.
            self._after_body_read()
            return
        self._refuse(408, "The request body stalled.")

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._body_timer)
        self._head_timer = self._body_timer = None

    @staticmethod
    def _cancel(timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    # --- refusing ---------------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` and close, unless a response is already under way (then close)."""
        self._cancel_timers()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # Tell the application its client is gone: it stops waiting for the body.
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
                return
        self.logger.warning("%s %d: %s", self._peer(), status, message)
        body = message.encode("ascii")
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"content-type: text/plain; charset=utf-8\r\n",
                        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                        b"connection: close\r\n", b"\r\n", body])
        self.transport.write(b"".join(content))
        self.transport.close()

    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "client"


def protocol_for(limits: ConnectionLimits) -> type[GuardedHttpToolsProtocol]:
    """A protocol class with fixed limits (for a server started in this process)."""
    return type("HortusHttpProtocol", (GuardedHttpToolsProtocol,), {"limits": limits})
