"""A client that hangs up mid-body is not an internal error."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import Server

TOKEN = "disconnect-token-0123456789"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(["--database", "memory", "--token", TOKEN], cwd=tmp_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_client_hanging_up_mid_body_logs_no_error(server: Server) -> None:
    request = (
        "POST /scim/v2/Users HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/scim+json\r\n"
        "Content-Length: 100\r\n\r\n"
        '{"userName": "half'
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request.encode())
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while "client_disconnected" not in server.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    server.stop()

    output = server.output()
    assert "client_disconnected" in output
    assert "internal_error" not in output
    assert "Traceback" not in output
    assert "status=500" not in output
    assert logging.getLevelName(logging.ERROR) not in output.replace("ERROR_", "")
