"""A real HTTP server on a loopback address that serves photos to identify by URL — and the ways
an image host can fail: slow, missing, redirecting, too large, not an image.

Routes (GET only):

* ``/photo/{name}`` — bytes registered with :meth:`ImageHost.add` (``image/jpeg``);
* ``/status/{code}`` — that status, a short text body;
* ``/page.html`` — an HTML page; ``/noise.bin`` — bytes that are no image
  (``application/octet-stream``);
* ``/big-declared`` — a ``Content-Length`` far over any cap, then a few bytes;
* ``/big-streamed/{n}`` — ``n`` bytes with no ``Content-Length`` (HTTP/1.0, ended by close);
* ``/slow/{name}`` — the registered photo, one byte every 0.2 s;
* ``/redirect?to=URL`` — ``302 Found`` to ``URL``.

Every request's path is recorded in :attr:`ImageHost.requests`.
"""

from __future__ import annotations

import http.server
import threading
from urllib.parse import parse_qs, urlsplit


class ImageHost:
    """Serve on ``host`` (a loopback address) at a free port, in a thread, until closed."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.photos: dict[str, bytes] = {}
        self.requests: list[str] = []
        self._closing = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                owner.requests.append(self.path)
                owner.answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.host = host
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def add(self, name: str, data: bytes) -> str:
        """Serve ``data`` at ``/photo/{name}``; its URL."""
        self.photos[name] = data
        return self.url(f"/photo/{name}")

    def __enter__(self) -> ImageHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()

    def _send(self, handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes,
              content_type: str, length: int | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body) if length is None else length))
        handler.end_headers()
        handler.wfile.write(body)

    def answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        try:
            if path.startswith("/photo/") and path[7:] in self.photos:
                self._send(handler, 200, self.photos[path[7:]], "image/jpeg")
            elif path.startswith("/status/"):
                code = int(path[8:])
                self._send(handler, code, f"status {code}".encode(), "text/plain")
            elif path == "/page.html":
                self._send(handler, 200, b"<html><body>A garden blog</body></html>",
                           "text/html; charset=utf-8")
            elif path == "/noise.bin":
                self._send(handler, 200, bytes(range(256)) * 40, "application/octet-stream")
            elif path == "/big-declared":
                self._send(handler, 200, b"\xff\xd8\xff" * 10, "image/jpeg", length=10**9)
            elif path.startswith("/big-streamed/"):
                size = int(path[14:])
                handler.send_response(200)
                handler.send_header("Content-Type", "image/jpeg")
                handler.end_headers()  # no length: the body ends when the connection closes
                block = b"\xff" * 65536
                sent = 0
                while sent < size and not self._closing.is_set():
                    handler.wfile.write(block[: size - sent])
                    sent += len(block)
            elif path.startswith("/slow/") and path[6:] in self.photos:
                data = self.photos[path[6:]]
                handler.send_response(200)
                handler.send_header("Content-Type", "image/jpeg")
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                for i in range(len(data)):
                    if self._closing.wait(0.2):
                        return
                    handler.wfile.write(data[i:i + 1])
                    handler.wfile.flush()
            elif path == "/redirect":
                target = parse_qs(parts.query)["to"][0]
                handler.send_response(302)
                handler.send_header("Location", target)
                handler.send_header("Content-Length", "0")
                handler.end_headers()
            else:
                self._send(handler, 404, b"no such photo", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server under test hung up (as it should, past its cap or deadline)

