"""A real HTTP server on a loopback port that keeps the webhook requests it gets."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.e2e.server import free_port


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """What the server got, and the statuses it answers with, in turn."""

    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    # When set, the first request waits for it before answering: a receiver
    # that got the message but has not said so yet.
    hold: threading.Event | None = None


@contextmanager
def webhook_server(
    port: int | None = None,
    *,
    statuses: list[int] | None = None,
    hold: threading.Event | None = None,
) -> Iterator[tuple[Receiver, str]]:
    """Serve on 127.0.0.1 until the block ends; yields the receiver and its URL."""
    receiver = Receiver(statuses=list(statuses or []), hold=hold)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.requests.append(Received(self.path, dict(self.headers), body))
            if receiver.hold is not None and len(receiver.requests) == 1:
                receiver.hold.wait(timeout=60)
            status = receiver.statuses.pop(0) if receiver.statuses else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads what it needs from `receiver`."""

    chosen = port or free_port()
    server = ThreadingHTTPServer(("127.0.0.1", chosen), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{chosen}/hooks/invitations?v=1"
    finally:
        if hold is not None:
            hold.set()
        server.shutdown()
        server.server_close()
        thread.join()
