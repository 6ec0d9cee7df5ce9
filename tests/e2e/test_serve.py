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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--database", "mysql://x@127.0.0.1/db"], "unsupported database"),
        (["serve", "--port", "99999"], "not a port"),
        (["serve", "--log-level", "CHATTY"], "invalid choice"),
        (["serve", "--pool-size", "0"], "not a whole number from 1"),
        (["token", "list", "--database", "/nonexistent/dir/x.sqlite3"], "no database"),
        (["token", "issue", "--database", "memory"], "keeps no tokens"),
        (
            ["serve", "--database", "postgresql://postgres@127.0.0.1:1/nope"],
            "the database failed",
        ),
    ],
)
def test_bad_command_line_is_one_line_without_traceback(
    args: list[str], message: str
) -> None:
    result = run_cli(*args)

    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "SCIM base URL" not in result.stdout


def test_port_in_use_is_reported_before_the_banner(
    tmp_path: Path, database: str, servers: list[Server]
) -> None:
    first = start(servers, tmp_path, "--database", database)

    second = run_cli("serve", "--port", str(first.port), "--database", database)

    assert second.returncode == 1
    assert "cannot listen on" in second.stderr
    assert "SCIM base URL" not in second.stdout


def test_revoking_every_token_is_not_undone_by_a_restart(
    tmp_path: Path, database: str, servers: list[Server]
) -> None:
    first = start(servers, tmp_path, "--database", database)
    first.stop()
    listed = run_cli("token", "list", "--database", database)
    token_id = listed.stdout.split("\t")[0]
    revoked = run_cli("token", "revoke", "--database", database, token_id)

    second = start(servers, tmp_path, "--database", database)

    assert revoked.returncode == 0, revoked.stderr
    assert printed_token(second.output()) is None
