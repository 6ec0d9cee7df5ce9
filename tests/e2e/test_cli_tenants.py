"""`scim-gateway tenants …` and tenant tokens, through the command line."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scim_gateway.backends import backend_from_url
from scim_gateway.backends.base import USER, Query
from scim_gateway.cli import main
from tests.backends import POSTGRES_URL, skip_without_postgres
from tests.e2e.server import Server, run_cli


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for the command line: a SQLite file, or a Postgres schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "gateway.sqlite3")
        return
    asyncio.run(skip_without_postgres())
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        asyncio.run(postgres_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def postgres_admin(statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


def count_users(database: str, tenant: str) -> int:
    async def count() -> int:
        backend = backend_from_url(database)
        await backend.open()
        try:
            return (await backend.query(tenant, USER, Query())).total
        finally:
            await backend.close()

    return asyncio.run(count())


def add_user(database: str, tenant: str) -> None:
    async def add() -> None:
        backend = backend_from_url(database)
        await backend.open()
        try:
            async with backend.transaction(tenant) as transaction:
                await transaction.create(USER, {"userName": "ann"})
        finally:
            await backend.close()

    asyncio.run(add())


def test_created_tenant_is_listed_with_its_tokens(
    capsys: pytest.CaptureFixture[str], database: str
) -> None:
    created = cli(capsys, "tenants", "create", "acme", "--database", database)
    cli(capsys, "tenants", "create", "globex", "--database", database)
    cli(capsys, "token", "issue", "--tenant", "acme", "--database", database)

    listed = cli(capsys, "tenants", "list", "--database", database)

    assert created[0] == 0
    assert "created tenant acme" in created[1]
    assert listed == (0, "acme\t1 active token\nglobex\t0 active tokens\n", "")


def test_creating_a_tenant_twice_fails_and_says_so(
    capsys: pytest.CaptureFixture[str], database: str
) -> None:
    cli(capsys, "tenants", "create", "acme", "--database", database)

    status, _, err = cli(capsys, "tenants", "create", "acme", "--database", database)

    assert (status, err) == (1, "scim-gateway: tenant acme exists already\n")


@pytest.mark.parametrize(
    ("tenant", "reason"),
    [
        ("Users", "names a SCIM endpoint"),
        ("a/b", "must be 1 to 64"),
        (".hidden", "must"),
    ],
)
def test_a_tenant_id_that_cannot_stand_in_a_path_is_refused(
    capsys: pytest.CaptureFixture[str], database: str, tenant: str, reason: str
) -> None:
    created = cli(capsys, "tenants", "create", tenant, "--database", database)
    issued = cli(capsys, "token", "issue", "--tenant", tenant, "--database", database)

    assert (created[0], issued[0]) == (2, 2)
    assert reason in created[2]
    assert issued[1] == ""


def test_delete_needs_yes_then_removes_the_tenant_and_its_data(
    capsys: pytest.CaptureFixture[str], database: str
) -> None:
    cli(capsys, "token", "issue", "--tenant", "acme", "--database", database)
    cli(capsys, "token", "issue", "--tenant", "globex", "--database", database)
    add_user(database, "acme")
    add_user(database, "globex")

    unconfirmed = cli(capsys, "tenants", "delete", "acme", "--database", database)
    confirmed = cli(
        capsys, "tenants", "delete", "acme", "--yes", "--database", database
    )
    again = cli(capsys, "tenants", "delete", "acme", "--yes", "--database", database)
    listed = cli(capsys, "tenants", "list", "--database", database)

    assert unconfirmed[0] == 2
    assert "--yes" in unconfirmed[2]
    assert confirmed[:2] == (0, "deleted tenant acme\n")
    assert again[:2] == (1, "")
    assert listed[1] == "globex\t1 active token\n"
    assert (count_users(database, "acme"), count_users(database, "globex")) == (0, 1)


def test_served_tenants_are_reached_by_token_and_by_path(
    tmp_path: Path, database: str
) -> None:
    issued = run_cli("token", "issue", "--tenant", "acme", "--database", database)
    token = issued.stdout.strip()
    server = Server(
        ["--database", database, "--tenant-in-path", "--log-format", "json"],
        cwd=tmp_path,
    )
    try:
        server.wait_ready()
        auth = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{server.base}/scim/v2/acme/Users", json={"userName": "ann"}, headers=auth
        )
        listed = httpx.get(f"{server.base}/scim/v2/Users", headers=auth)
        foreign = httpx.get(f"{server.base}/scim/v2/globex/Users", headers=auth)
    finally:
        server.stop()

    output = server.output()
    access = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and '"route": "/{resource}"' in line
    ]
    assert issued.returncode == 0, issued.stderr
    assert created.status_code == 201
    assert created.headers["Location"].startswith(f"{server.base}/scim/v2/acme/Users/")
    assert listed.json()["totalResults"] == 1
    assert foreign.status_code == 401
    assert "Secret token" not in output
    assert f"Tenant URLs:   {server.base}/scim/v2/<tenant>" in output
    assert [(line["method"], line["status"], line["tenant"]) for line in access] == [
        ("POST", "201", "acme"),
        ("GET", "200", "acme"),
        ("GET", "401", "-"),
    ]


def test_revoke_with_a_tenant_touches_only_that_tenants_tokens(
    capsys: pytest.CaptureFixture[str], database: str
) -> None:
    cli(capsys, "token", "issue", "--tenant", "acme", "--database", database)
    listed = cli(capsys, "token", "list", "--tenant", "acme", "--database", database)
    token_id = listed[1].split("\t")[0]

    wrong = cli(
        capsys,
        "token",
        "revoke",
        token_id,
        "--tenant",
        "globex",
        "--database",
        database,
    )
    right = cli(
        capsys, "token", "revoke", token_id, "--tenant", "acme", "--database", database
    )

    assert wrong == (
        1,
        "",
        f"scim-gateway: no active token of tenant globex with id {token_id}\n",
    )
    assert right == (0, f"revoked {token_id}\n", "")
