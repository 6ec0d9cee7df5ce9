"""Pages of the Postgres backend from kept anchors and kept resources
(`postgres_pages`): always the rows `OFFSET` reads, whoever wrote since."""

from __future__ import annotations

import json

import asyncpg
import pytest

from scim_gateway.backends import postgres_query
from scim_gateway.backends.base import GROUP, USER, Query, StoredResource
from scim_gateway.backends.postgres import PostgresBackend
from scim_gateway.backends.postgres_pages import ANCHOR_SPACING
from tests.unit.backends.test_postgres_upkeep import create

pytestmark = pytest.mark.postgres

TENANT = "acme"
USERS = 300
SIZE = 25
# Pages far enough from the start to start at an anchor.
STARTS = (ANCHOR_SPACING + 1, 100, 150, 201, USERS - SIZE + 1, USERS - 3)


@pytest.fixture
async def users(postgres: PostgresBackend) -> list[str]:
    ids = [await create(postgres, USER, f"user{n:04d}") for n in range(USERS)]
    group = await create(postgres, GROUP, "staff")
    await postgres.change_members(TENANT, group, add=ids[::3])
    return ids


def seen(resource: StoredResource) -> tuple[object, ...]:
    groups = None
    if resource.groups is not None:
        groups = [(g.id, g.display) for g in resource.groups]
    return (resource.id, resource.version, resource.text, groups)


async def offset_page(sql: asyncpg.Connection, start: int) -> list[tuple[object, ...]]:
    """The page as `OFFSET` reads it, with each user's groups."""
    rows = await sql.fetch(
        "SELECT r.id, r.version, r.document::text AS text, ARRAY("
        " SELECT g.id || '=' || coalesce(g.display_name, '') FROM memberships m"
        " JOIN resources g ON g.tenant = m.tenant AND g.id = m.group_id"
        " WHERE m.tenant = r.tenant AND m.member_id = r.id ORDER BY g.id) AS groups"
        " FROM resources r WHERE r.tenant = $1 AND r.resource_type = 'User'"
        " ORDER BY r.seq OFFSET $2 LIMIT $3",
        TENANT,
        start - 1,
        SIZE,
    )
    return [
        (
            row["id"],
            row["version"],
            row["text"],
            [tuple(group.split("=", 1)) for group in row["groups"]],
        )
        for row in rows
    ]


async def check_pages(backend: PostgresBackend, sql: asyncpg.Connection) -> None:
    """Every page of STARTS, twice, as `OFFSET` reads it, with the total."""
    total = await sql.fetchval(
        "SELECT count(*) FROM resources WHERE tenant = $1 AND resource_type = 'User'",
        TENANT,
    )
    for _ in range(2):
        for start in STARTS:
            query = Query(start_index=start, count=SIZE, with_groups=True)
            page = await backend.query(TENANT, USER, query)
            got = [seen(resource) for resource in page.resources]
            # jsonb text from a plain connection has spaces; compare documents.
            want = await offset_page(sql, start)
            assert [(g[0], g[1], g[3]) for g in got] == [
                (w[0], w[1], w[3]) for w in want
            ]
            assert [_json(g[2]) for g in got] == [_json(w[2]) for w in want]
            assert page.total == total


def _json(text: object) -> object:
    return json.loads(str(text))


async def test_pages_start_at_anchors_and_hand_out_kept_resources(
    postgres: PostgresBackend, sql: asyncpg.Connection, users: list[str]
) -> None:
    await check_pages(postgres, sql)

    query = Query(start_index=151, count=SIZE, with_groups=True)
    first = await postgres.query(TENANT, USER, query)
    again = await postgres.query(TENANT, USER, query)

    assert postgres._pages.anchors((TENANT, USER)) is not None
    assert all(a is b for a, b in zip(first.resources, again.resources, strict=True))


async def test_pages_see_every_write_of_another_process_at_once(
    postgres: PostgresBackend,
    postgres_peer: PostgresBackend,
    sql: asyncpg.Connection,
    users: list[str],
) -> None:
    await check_pages(postgres, sql)
    group = await create(postgres_peer, GROUP, "admins")

    # A user renamed, a member added and one removed, a group renamed.
    async with postgres_peer.transaction(TENANT) as tx:
        await tx.replace(USER, users[160], {"userName": "renamed"})
    await check_pages(postgres, sql)
    await postgres_peer.change_members(TENANT, group, add=[users[170]])
    await check_pages(postgres, sql)
    await postgres_peer.change_members(TENANT, group, remove=[users[170]])
    await check_pages(postgres, sql)
    async with postgres_peer.transaction(TENANT) as tx:
        await tx.replace(GROUP, group, {"displayName": "root"})
    await postgres_peer.change_members(TENANT, group, add=[users[200]])
    await check_pages(postgres, sql)

    # Users removed and added: the rows after them move.
    async with postgres_peer.transaction(TENANT) as tx:
        await tx.delete(USER, users[70])
        await tx.delete(USER, users[5])
    await check_pages(postgres, sql)
    await create(postgres_peer, USER, "newcomer")
    await check_pages(postgres, sql)
    # One gone and one come: the same number of users as before.
    async with postgres_peer.transaction(TENANT) as tx:
        await tx.delete(USER, users[100])
    await create(postgres_peer, USER, "another newcomer")
    await check_pages(postgres, sql)
    # A group removed.
    async with postgres_peer.transaction(TENANT) as tx:
        await tx.delete(GROUP, group)
    await check_pages(postgres, sql)


async def test_a_tenant_made_again_with_as_many_users_is_read_anew(
    postgres: PostgresBackend,
    postgres_peer: PostgresBackend,
    sql: asyncpg.Connection,
    users: list[str],
) -> None:
    await check_pages(postgres, sql)

    await postgres_peer.delete_tenant(TENANT)
    await postgres_peer.create_tenant(TENANT)
    for n in range(USERS):
        await create(postgres_peer, USER, f"second{n:04d}")

    await check_pages(postgres, sql)


async def test_with_many_groups_pages_read_the_groups_of_their_users(
    postgres: PostgresBackend,
    postgres_peer: PostgresBackend,
    sql: asyncpg.Connection,
    users: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(postgres_query, "MAX_PRINTED_GROUPS", 1)
    group = await create(postgres_peer, GROUP, "admins")
    await check_pages(postgres, sql)

    await postgres_peer.change_members(TENANT, group, add=[users[180]])

    await check_pages(postgres, sql)


async def test_pages_of_groups_without_members_are_kept_too(
    postgres: PostgresBackend, users: list[str]
) -> None:
    for n in range(ANCHOR_SPACING * 2):
        await create(postgres, GROUP, f"group{n:03d}")
    query = Query(start_index=ANCHOR_SPACING + 10, count=SIZE)

    pages = [await postgres.query(TENANT, GROUP, query) for _ in range(3)]

    names = [r.document["displayName"] for r in pages[-1].resources]
    assert names == [
        f"group{n:03d}" for n in range(ANCHOR_SPACING + 8, ANCHOR_SPACING + 8 + SIZE)
    ]
    assert all(
        a is b for a, b in zip(pages[1].resources, pages[2].resources, strict=True)
    )
