"""Two real `scim-gateway serve` processes on one PostgreSQL database.

This is the deployment behind a reverse proxy: a client's consecutive
requests land on either process, so whatever one writes the other must serve
at once, and uniqueness and If-Match must hold across them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import httpx
import pytest

from scim_gateway.backends.postgres_migrations import MIGRATIONS
from tests.backends import postgres_database
from tests.e2e.scim_calls import (
    ERROR,
    GROUP_SCHEMA,
    PATCH_OP,
    USER_SCHEMA,
    add_member,
    create_user,
    spelled,
)
from tests.e2e.server import Server

pytestmark = pytest.mark.postgres

TOKEN = "two-processes-token-0123456789"


@dataclass(frozen=True)
class Pair:
    """Processes `a` and `b`, serving the database at `database`."""

    database: str
    a: Server
    b: Server


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Both processes started at the same moment on an empty database."""
    folder = tmp_path_factory.mktemp("processes")
    with postgres_database() as database:
        args = ["--database", database, "--token", TOKEN]
        servers = [Server(args, cwd=folder), Server(args, cwd=folder)]
        try:
            for server in servers:
                server.wait_ready()
            yield Pair(database, *servers)
        finally:
            for server in servers:
                server.stop()


@asynccontextmanager
async def clients(pair: Pair) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx.AsyncClient(base_url=f"{pair.a.base}/scim/v2", headers=headers) as a,
        httpx.AsyncClient(base_url=f"{pair.b.base}/scim/v2", headers=headers) as b,
    ):
        yield a, b


def patch_body(path: str, value: Any) -> dict[str, Any]:
    operation = {"op": "replace", "path": path, "value": value}
    return {"schemas": [PATCH_OP], "Operations": [operation]}


def test_processes_starting_at_once_on_an_empty_database_both_come_up(
    pair: Pair,
) -> None:
    # Each process opens the database twice (the command line checks it, then
    # the app opens it); the first opens raced for the lock.
    opens = [
        re.findall(r"migrations_applied=(none|\[[0-9, ]*\])", server.output())
        for server in (pair.a, pair.b)
    ]

    recorded = asyncio.run(_recorded_migrations(pair.database))

    every = str([m.version for m in MIGRATIONS])
    assert sorted(first for first, *_ in opens) == sorted(["none", every])
    assert {later for _, *rest in opens for later in rest} == {"none"}
    assert recorded == [m.version for m in MIGRATIONS]
    for server in (pair.a, pair.b):
        assert httpx.get(f"{server.base}/readyz").status_code == 200


async def _recorded_migrations(database: str) -> list[int]:
    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch(
            "SELECT version FROM schema_migrations ORDER BY version"
        )
    finally:
        await connection.close()
    return [row["version"] for row in rows]


async def test_a_user_written_through_one_process_is_served_by_the_other(
    pair: Pair,
) -> None:
    async with clients(pair) as (a, b):
        created = await create_user(a, "cy.ng@example.com")
        user_id = created.json()["id"]
        read = await b.get(f"/Users/{user_id}")
        found = await b.get(
            "/Users", params={"filter": 'userName eq "CY.NG@example.com"'}
        )
        patched = await b.patch(f"/Users/{user_id}", json=patch_body("title", "Lead"))
        reread = await a.get(f"/Users/{user_id}")

    assert created.status_code == 201
    assert read.status_code == 200
    assert read.json()["userName"] == "cy.ng@example.com"
    assert read.headers["etag"] == created.headers["etag"]
    assert found.json()["totalResults"] == 1
    assert found.json()["Resources"][0]["id"] == user_id
    assert patched.status_code == 200
    assert reread.json()["title"] == "Lead"
    assert reread.headers["etag"] == patched.headers["etag"] != created.headers["etag"]


async def test_if_match_holds_across_processes(pair: Pair) -> None:
    async with clients(pair) as (a, b):
        created = await create_user(a, "di.ho@example.com")
        user_id = created.json()["id"]
        stale = created.headers["etag"]
        moved = await b.patch(f"/Users/{user_id}", json=patch_body("title", "One"))
        refused = await b.patch(
            f"/Users/{user_id}",
            json=patch_body("title", "Two"),
            headers={"If-Match": stale},
        )
        refused_put = await a.put(
            f"/Users/{user_id}",
            json={"schemas": [USER_SCHEMA], "userName": "di.ho@example.com"},
            headers={"If-Match": stale},
        )
        accepted = await a.patch(
            f"/Users/{user_id}",
            json=patch_body("title", "Three"),
            headers={"If-Match": moved.headers["etag"]},
        )
        final = await b.get(f"/Users/{user_id}")

    for response in (refused, refused_put):
        assert response.status_code == 412
        assert response.json()["schemas"] == [ERROR]
        assert response.json()["status"] == "412"
    assert accepted.status_code == 200
    assert final.json()["title"] == "Three"
    assert final.headers["etag"] == accepted.headers["etag"]


async def test_concurrent_creates_of_one_user_name_across_processes_store_one(
    pair: Pair,
) -> None:
    async with clients(pair) as (a, b):
        names = [spelled("eve.ito@example.com", i) for i in range(50)]
        responses = await asyncio.gather(
            *(create_user((a, b)[i % 2], name) for i, name in enumerate(names))
        )
        listed = [
            await client.get(
                "/Users", params={"filter": 'userName eq "eve.ito@example.com"'}
            )
            for client in (a, b)
        ]

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 49
    assert {r.json()["scimType"] for r in responses if r.status_code == 409} == {
        "uniqueness"
    }
    assert [page.json()["totalResults"] for page in listed] == [1, 1]


async def test_concurrent_member_adds_across_processes_keep_every_member(
    pair: Pair,
) -> None:
    async with clients(pair) as (a, b):
        users = [await create_user(a, f"fa-{i}@example.com") for i in range(20)]
        group = await b.post(
            "/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Both"}
        )
        group_id = group.json()["id"]
        user_ids = [user.json()["id"] for user in users]
        responses = await asyncio.gather(
            *(
                add_member((a, b)[i % 2], group_id, user_id)
                for i, user_id in enumerate(user_ids)
            )
        )
        read = await a.get(f"/Groups/{group_id}", params={"attributes": "members"})

    assert [response.status_code for response in responses] == [204] * 20
    assert {member["value"] for member in read.json()["members"]} == set(user_ids)


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_database() as url:
        yield url


async def test_pool_size_caps_the_connections_of_a_process(
    database: str, tmp_path: Path
) -> None:
    args = ["--database", database, "--token", TOKEN, "--pool-size", "2"]
    server = Server(args, cwd=tmp_path)
    try:
        await anyio.to_thread.run_sync(server.wait_ready)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            base_url=f"{server.base}/scim/v2", headers=headers
        ) as client:
            responses = await asyncio.gather(
                *(create_user(client, f"ga-{i}@example.com") for i in range(30))
            )
        opened = await _gateway_connections(database)
    finally:
        server.stop()

    assert [response.status_code for response in responses] == [201] * 30
    assert 1 <= opened <= 2


async def _gateway_connections(database: str) -> int:
    connection = await asyncpg.connect(database)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'scim-gateway'"
        )
    finally:
        await connection.close()
    return count
