"""The real `scim-gateway serve` process, driven over HTTP and the command line."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import Server, run_cli

USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "ann.lee@example.com",
    "active": "True",
}


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "var" / "gateway.sqlite3")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def start(servers: list[Server], tmp_path: Path, *args: str) -> Server:
    server = Server(args, cwd=tmp_path)
    servers.append(server)
    server.wait_ready()
    return server


def printed_token(output: str) -> str | None:
    match = re.search(r"Secret token:\s+(\S+)", output)
    return match[1] if match else None


def test_first_start_prints_a_token_once_and_data_survives_a_restart(
    tmp_path: Path, database: str, servers: list[Server]
) -> None:
    first = start(servers, tmp_path, "--database", database)
    token = printed_token(first.output())
    assert token is not None
    auth = {"Authorization": f"Bearer {token}"}
    created = httpx.post(f"{first.base}/scim/v2/Users", json=USER, headers=auth)
    first.stop()

    second = start(servers, tmp_path, "--database", database)
    read = httpx.get(
        f"{second.base}/scim/v2/Users/{created.json()['id']}", headers=auth
    )

    assert created.status_code == 201
    assert read.status_code == 200
    assert read.json()["userName"] == "ann.lee@example.com"
    assert read.json()["active"] is True
    assert printed_token(second.output()) is None
    assert "SCIM base URL: http://127.0.0.1:" in first.output()
    assert first.output().count(token) == 1


def test_token_rotate_replaces_the_stored_token(
    tmp_path: Path, database: str, servers: list[Server]
) -> None:
    server = start(servers, tmp_path, "--database", database)
    old = printed_token(server.output())

    rotated = run_cli("token", "rotate", "--database", database)
    new = rotated.stdout.strip()
    with_new = httpx.get(
        f"{server.base}/scim/v2/Users", headers={"Authorization": f"Bearer {new}"}
    )
    server.stop()
    restarted = start(servers, tmp_path, "--database", database)
    with_old = httpx.get(
        f"{restarted.base}/scim/v2/Users", headers={"Authorization": f"Bearer {old}"}
    )

    assert rotated.returncode == 0, rotated.stderr
    assert with_new.status_code == 200
    assert with_old.status_code == 401
    assert with_old.json()["status"] == "401"


def test_configured_token_is_never_logged(
    tmp_path: Path, database: str, servers: list[Server]
) -> None:
    token = "fixed-token-for-this-test-0001"
    server = start(
        servers,
        tmp_path,
        "--database",
        database,
        "--token",
        token,
        "--log-level",
        "DEBUG",
    )
    auth = {"Authorization": f"Bearer {token}"}
    httpx.post(f"{server.base}/scim/v2/Users", json=USER, headers=auth)
    httpx.get(f'{server.base}/scim/v2/Users?filter=userName eq "x"', headers=auth)
    httpx.get(f"{server.base}/scim/v2/Users", headers={"Authorization": "Bearer wrong"})
    server.stop()

    output = server.output()
    assert token not in output
    assert "ann.lee@example.com" not in output
    assert "auth_failed" in output
    assert re.search(r"request method=POST route=/\{resource\} resource=User", output)


def test_help_lists_every_command_and_option() -> None:
    top = run_cli("--help")
    serve = run_cli("serve", "--help")
    token = run_cli("token", "--help")

    assert top.returncode == 0
    assert {"serve", "token"} <= set(re.findall(r"^\s{4}(\w+)", top.stdout, re.M))
    for option in (
        "--host",
        "--port",
        "--database",
        "--token",
        "--base-path",
        "--public-url",
    ):
        assert option in serve.stdout
    assert {"issue", "rotate", "list", "revoke"} <= set(token.stdout.split())
