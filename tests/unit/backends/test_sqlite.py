"""What only the SQLite backend has: its file, migrations, indexes and failures."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import anyio
import pytest

from scim_gateway.backends.base import (
    GROUP,
    USER,
    GroupRef,
    Query,
    SortSpec,
    StoredResource,
)
from scim_gateway.backends.errors import ConflictError, UnavailableError
from scim_gateway.backends.sql import SqlValue
from scim_gateway.backends.sqlite import SqliteBackend, SqliteTransaction, translate
from scim_gateway.backends.sqlite_pages import (
    ANCHOR_SPACING,
    MAX_ANCHORS,
    PageCache,
    Walk,
)
from scim_gateway.backends.sqlite_query import (
    RESOURCES_BY_IDS,
    fetch_page,
    groups_statement,
    members_statement,
    page_statements,
    resource_statement,
)
from scim_gateway.backends.sqlite_schema import MIGRATIONS, configure
from scim_gateway.backends.sqlite_writes import MEMBER_INSERT
from scim_gateway.filters import parse_attr_path, parse_filter
from scim_gateway.schemas import GROUP_TYPE, USER_TYPE, SchemaRegistry

TENANT = "acme"
REGISTRY = SchemaRegistry()
CREATED = "2026-01-01T00:00:00.000000+00:00"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "scim.sqlite3"


@pytest.fixture
async def backend(path: Path) -> AsyncIterator[SqliteBackend]:
    opened = SqliteBackend(path)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection to the file, with the functions compiled filters call."""
    with closing(sqlite3.connect(path, isolation_level=None)) as connection:
        configure(connection, busy_timeout=1.0)
        yield connection


def email_values(path: Path) -> list[tuple[str | None, str]]:
    """The rows of `email_values`, as (resource id or None, folded value)."""
    with connect(path) as connection:
        rows = connection.execute(
            "SELECT r.id, v.value_folded FROM email_values AS v"
            " LEFT JOIN resources AS r ON r.seq = v.seq ORDER BY v.seq, v.value_folded"
        )
        return [(row[0], row[1]) for row in rows]


def plan(connection: sqlite3.Connection, sql: str, params: Sequence[SqlValue]) -> str:
    rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(str(row[3]) for row in rows)


async def create_user(
    backend: SqliteBackend, user_name: str, **attributes: object
) -> str:
    document = {"userName": user_name, **attributes}
    async with backend.transaction(TENANT) as transaction:
        return (await transaction.create(USER, document)).id


class TestFile:
    async def test_migrations_are_applied_once_and_recorded(
        self, path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="scim_gateway.backends.sqlite")
        for _ in range(2):
            backend = SqliteBackend(path)
            await backend.open()
            await backend.close()

        with connect(path) as connection:
            recorded = connection.execute(
                "SELECT number FROM schema_migrations"
            ).fetchall()
        applied = [r.getMessage() for r in caplog.records if "sqlite.open" in r.msg]
        assert recorded == [(number,) for number, _ in MIGRATIONS]
        assert applied[0].endswith(f"migrations_applied={[n for n, _ in MIGRATIONS]}")
        assert applied[1].endswith("migrations_applied=[]")

    async def test_a_failing_migration_is_logged_and_leaves_no_record(
        self, path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        with connect(path) as connection:
            connection.execute("CREATE TABLE resources (unrelated TEXT)")
        backend = SqliteBackend(path)

        with pytest.raises(UnavailableError, match="migration 1 failed"):
            await backend.open()

        with connect(path) as connection:
            recorded = connection.execute("SELECT * FROM schema_migrations").fetchall()
        assert recorded == []
        assert [r.levelname for r in caplog.records if "migration_failed" in r.msg] == [
            "ERROR"
        ]

    async def test_the_email_migration_fills_email_values_for_stored_users(
        self, path: Path
    ) -> None:
        document = {
            "userName": "ann",
            "emails": [
                {"value": "Ann@Example.COM", "type": "work"},
                {"value": "ÄNN@home.example", "primary": True},
                {"type": "other"},
                "plain@example.com",
            ],
        }
        with connect(path) as connection:
            connection.execute(
                "CREATE TABLE schema_migrations"
                " (number INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
            )
            for number, statements in MIGRATIONS[:3]:
                for statement in statements:
                    connection.execute(statement)
                connection.execute(
                    "INSERT INTO schema_migrations VALUES (?, 'then')", (number,)
                )
            connection.execute(
                "INSERT INTO resources (tenant, resource_type, id, version, created,"
                " last_modified, user_name_folded, document)"
                " VALUES (?, 'User', 'old', 1, ?, ?, 'ann', ?)",
                (TENANT, CREATED, CREATED, json.dumps(document)),
            )
        backend = SqliteBackend(path)
        await backend.open()
        try:
            new = await create_user(backend, "bo", emails=document["emails"])
            expr = parse_filter(
                'emails.value eq "änn@HOME.example"',
                partial(REGISTRY.resolve, USER_TYPE),
            )
            page = await backend.query(TENANT, USER, Query(filter=expr))
        finally:
            await backend.close()

        rows = email_values(path)
        assert [resource.id for resource in page.resources] == ["old", new]
        assert rows == [
            (user_id, value)
            for user_id in ("old", new)
            for value in ("ann@example.com", "änn@home.example")
        ]

    async def test_email_values_follow_replaced_and_deleted_resources(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        work = {"value": "Ann@X", "type": "work"}
        ann = await create_user(backend, "ann", emails=[work, {"value": "a@home"}])
        bo = await create_user(backend, "bo", emails=[{"value": "bo@x"}])
        await create_user(backend, "cy")
        async with backend.transaction(TENANT) as transaction:
            await transaction.replace(USER, ann, {"userName": "ann", "emails": [work]})
            await transaction.delete(USER, bo)
        kept = email_values(path)
        await backend.delete_tenant(TENANT)

        assert kept == [(ann, "ann@x")]
        assert email_values(path) == []

    async def test_the_database_is_in_wal_mode(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        with connect(path) as connection:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]

        assert mode == "wal"

    @pytest.mark.parametrize(("interval", "pages"), [(0.25, 0), (0, 10_000)])
    async def test_the_writer_checkpoints_only_without_a_checkpointer(
        self, path: Path, interval: float, pages: int
    ) -> None:
        def pragmas(connection: sqlite3.Connection) -> tuple[int, int]:
            checkpoint = connection.execute("PRAGMA wal_autocheckpoint").fetchone()
            limit = connection.execute("PRAGMA journal_size_limit").fetchone()
            return checkpoint[0], limit[0]

        backend = SqliteBackend(path, checkpoint_interval=interval)
        await backend.open()
        try:
            async with backend.transaction(TENANT) as transaction:
                assert isinstance(transaction, SqliteTransaction)
                found = await transaction._run(pragmas)
        finally:
            await backend.close()

        assert found == (pages, 64 * 1024 * 1024)

    async def test_a_connection_of_its_own_copies_the_wal_back(
        self, path: Path
    ) -> None:
        backend = SqliteBackend(path, checkpoint_interval=0.05)
        await backend.open()
        try:
            file = anyio.Path(path)
            before = (await file.stat()).st_size
            await create_users(backend, 0, 500)
            # The writer never checkpoints: only the checkpointer grows the file.
            for _ in range(200):
                if (await file.stat()).st_size > before:
                    break
                await anyio.sleep(0.05)
            grown = (await file.stat()).st_size > before
            users = await backend.query(TENANT, USER, Query(count=0))
        finally:
            await backend.close()

        assert grown
        assert users.total == 500

    async def test_data_survives_close_and_reopen(self, path: Path) -> None:
        first = SqliteBackend(path)
        await first.open()
        user_id = await create_user(first, "ann")
        async with first.transaction(TENANT) as transaction:
            group = await transaction.create(GROUP, {"displayName": "Staff"})
            await transaction.add_members(group.id, [user_id])
        await first.close()

        second = SqliteBackend(path)
        await second.open()
        try:
            found = await second.get(TENANT, GROUP, group.id, with_members=True)
        finally:
            await second.close()

        assert found.members is not None
        assert [(m.id, m.display) for m in found.members] == [(user_id, "ann")]

    async def test_open_and_close_twice_are_harmless(self, path: Path) -> None:
        backend = SqliteBackend(path)

        await backend.open()
        await backend.open()
        await backend.close()
        await backend.close()

        assert await anyio.Path(path).exists()

    def test_no_file_is_refused(self) -> None:
        with pytest.raises(ValueError, match="MemoryBackend"):
            SqliteBackend(":memory:")


class TestIndexes:
    async def test_new_resources_get_ids_that_sort_in_creation_order(
        self, backend: SqliteBackend
    ) -> None:
        """Their ids then add to the end of each index keyed by them."""
        ids = []
        for number in range(3):
            ids.append(await create_user(backend, f"user{number}"))
            await anyio.sleep(0.002)

        assert sorted(ids) == ids
        assert all(uuid.UUID(resource_id).version == 7 for resource_id in ids)

    async def test_a_user_name_filter_uses_the_unique_index(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        expr = parse_filter(
            'userName eq "Ann"', partial(SchemaRegistry().resolve, USER_TYPE)
        )
        statements = page_statements(TENANT, USER, Query(filter=expr))

        with connect(path) as connection:
            found = plan(connection, statements.page_sql, statements.page_params)
            counted = plan(connection, statements.count_sql, statements.count_params)

        assert "USING INDEX resources_user_name" in found
        assert "INDEX resources_user_name" in counted

    @pytest.mark.parametrize(
        ("resource_type", "text", "index"),
        [
            (USER, 'externalId eq "A-1"', "resources_external_id"),
            (USER, 'id eq "x"', "resources_by_id"),
            (GROUP, 'displayName eq "Staff"', "resources_group_display_name"),
        ],
    )
    async def test_lookups_by_other_indexed_attributes_use_their_index(
        self,
        backend: SqliteBackend,
        path: Path,
        resource_type: str,
        text: str,
        index: str,
    ) -> None:
        resource = USER_TYPE if resource_type == USER else GROUP_TYPE
        expr = parse_filter(text, partial(SchemaRegistry().resolve, resource))
        statements = page_statements(TENANT, resource_type, Query(filter=expr))

        with connect(path) as connection:
            found = plan(connection, statements.page_sql, statements.page_params)

        assert f"INDEX {index}" in found

    async def test_get_by_id_uses_the_id_index(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        with connect(path) as connection:
            found = plan(connection, resource_statement(USER), (TENANT, "some-id"))

        assert "USING INDEX resources_by_id" in found

    async def test_an_unfiltered_page_reads_its_ids_from_the_order_index_alone(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        statements = page_statements(TENANT, USER, Query(count=100), columns="r.id")

        with connect(path) as connection:
            found = plan(connection, statements.page_sql, statements.page_params)

        assert "USING COVERING INDEX resources_in_order" in found
        assert "TEMP B-TREE" not in found

    @pytest.mark.parametrize(
        "text",
        [
            'emails[type eq "work"].value eq "Ann@Example.com"',
            'emails.value eq "ann@example.com"',
            'emails[value eq "ann@example.com"]',
            'emails eq "ann@example.com"',
            'emails[value eq "ann@example.com" and primary eq true] and active pr',
        ],
    )
    async def test_an_email_lookup_searches_the_email_values(
        self, backend: SqliteBackend, path: Path, text: str
    ) -> None:
        expr = parse_filter(text, partial(SchemaRegistry().resolve, USER_TYPE))
        statements = page_statements(TENANT, USER, Query(filter=expr))

        with connect(path) as connection:
            found = plan(connection, statements.page_sql, statements.page_params)
            counted = plan(connection, statements.count_sql, statements.count_params)

        for described in (found, counted):
            assert "SEARCH v USING PRIMARY KEY (value_folded=?)" in described
            # The users come by the seq the values name, not by a scan.
            assert "rowid=?" in described or "seq=?)" in described
        assert "ann@example.com" in statements.count_params

    async def test_a_far_page_in_creation_order_starts_from_a_seq(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        expr = parse_filter(
            "active eq true", partial(SchemaRegistry().resolve, USER_TYPE)
        )
        statements = page_statements(TENANT, USER, Query(filter=expr, count=100))
        assert statements.anchored_sql is not None
        params = [*statements.count_params, 5000, 100, 7]

        with connect(path) as connection:
            found = plan(connection, statements.anchored_sql, params)

        assert (
            "USING INDEX resources_in_order (tenant=? AND resource_type=? AND seq>?)"
            in found
        )
        assert "TEMP B-TREE" not in found

    async def test_a_sorted_page_has_no_anchored_form(self) -> None:
        path = parse_attr_path("userName", partial(SchemaRegistry().resolve, USER_TYPE))

        statements = page_statements(TENANT, USER, Query(sort=SortSpec(path)))

        assert (statements.walk, statements.anchored_sql) == (None, None)

    async def test_members_of_a_group_are_read_by_primary_key(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        with connect(path) as connection:
            found = plan(connection, members_statement("m.group_id = ?"), (TENANT, "g"))

        assert "PRIMARY KEY" in found

    async def test_groups_of_a_user_are_read_by_the_member_index(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        with connect(path) as connection:
            found = plan(connection, groups_statement("m.member_id = ?"), (TENANT, "u"))

        assert "memberships_by_member" in found

    @pytest.mark.parametrize(
        ("statement", "params"),
        [
            (MEMBER_INSERT, (TENANT, "g", '["u1","u2"]', TENANT)),
            (RESOURCES_BY_IDS, ('["u1","u2"]', TENANT)),
        ],
    )
    async def test_resources_of_a_list_of_ids_are_found_by_the_id_index(
        self,
        backend: SqliteBackend,
        path: Path,
        statement: str,
        params: tuple[str, ...],
    ) -> None:
        # A file of 10,000 users analyzed before migration 5 has no statistics
        # for its new index, which holds the id: SQLite then takes scanning a
        # tenant in it for cheaper than looking up a list. The statements
        # forbid that.
        with connect(path) as connection:
            connection.execute("ANALYZE")
            connection.execute("DELETE FROM sqlite_stat1")
            connection.execute(
                "INSERT INTO sqlite_stat1 VALUES"
                " ('resources', 'resources_by_id', '10001 10001 1'),"
                " ('resources', 'resources_user_name', '10000 10000 1'),"
                " ('resources', 'resources_external_id', '10001 10001 5001 1'),"
                " ('resources', 'resources_group_display_name', '1 1 1')"
            )

        with connect(path) as connection:
            found = plan(connection, statement, params)

        assert "SEARCH r USING INDEX resources_by_id (tenant=? AND id=?)" in found


class TestFailures:
    async def test_a_read_only_database_refuses_writes_as_unavailable(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        await create_user(backend, "ann")
        read_only = SqliteBackend(f"file:{path}?mode=ro")
        await read_only.open()
        try:
            page = await read_only.query(TENANT, USER, Query())
            with pytest.raises(UnavailableError, match="readonly"):
                await create_user(read_only, "bo")
        finally:
            await read_only.close()

        assert page.total == 1

    async def test_a_missing_directory_is_unavailable(self, tmp_path: Path) -> None:
        backend = SqliteBackend(tmp_path / "missing" / "scim.sqlite3")

        with pytest.raises(UnavailableError, match="unable to open"):
            await backend.open()

    async def test_a_file_that_is_no_database_is_unavailable(self, path: Path) -> None:
        await anyio.Path(path).write_bytes(b"this is not a database, just text " * 100)
        backend = SqliteBackend(path)

        with pytest.raises(UnavailableError, match="not a database"):
            await backend.open()

    async def test_a_database_locked_by_another_process_is_unavailable(
        self, path: Path
    ) -> None:
        backend = SqliteBackend(path, busy_timeout=0.05)
        await backend.open()
        try:
            with connect(path) as other:
                other.execute("BEGIN IMMEDIATE")
                with pytest.raises(UnavailableError, match="locked") as caught:
                    await create_user(backend, "ann")
                other.execute("ROLLBACK")
            user_id = await create_user(backend, "ann")
        finally:
            await backend.close()

        assert caught.value.retry_after > 0
        assert user_id

    async def test_calls_on_a_closed_backend_are_unavailable(self, path: Path) -> None:
        backend = SqliteBackend(path)
        await backend.open()
        await backend.close()

        with pytest.raises(UnavailableError):
            await backend.get(TENANT, USER, "x")
        with pytest.raises(UnavailableError):
            await create_user(backend, "ann")

    async def test_ping_answers_when_open(self, backend: SqliteBackend) -> None:
        await backend.ping()


class TestCounts:
    """Totals are kept per reader while the file is unchanged, never longer."""

    async def test_total_counts_a_user_created_after_the_last_page(
        self, backend: SqliteBackend
    ) -> None:
        for name in ("ann", "bo", "cy"):
            await create_user(backend, name)
        before = [await backend.query(TENANT, USER, Query(count=1)) for _ in range(4)]
        await create_user(backend, "di")

        after = [await backend.query(TENANT, USER, Query(count=1)) for _ in range(4)]

        assert [page.total for page in before] == [3] * 4
        assert [page.total for page in after] == [4] * 4

    async def test_total_counts_a_user_created_by_another_process(
        self, path: Path, backend: SqliteBackend
    ) -> None:
        for name in ("ann", "bo"):
            await create_user(backend, name)
        before = [await backend.query(TENANT, USER, Query(count=1)) for _ in range(4)]
        other = SqliteBackend(path)
        await other.open()
        try:
            await create_user(other, "cy")
        finally:
            await other.close()

        after = [await backend.query(TENANT, USER, Query(count=1)) for _ in range(4)]

        assert [page.total for page in before] == [2] * 4
        assert [page.total for page in after] == [3] * 4

    async def test_filtered_totals_are_kept_apart(self, backend: SqliteBackend) -> None:
        for name in ("ann", "anna", "bo"):
            await create_user(backend, name)
        registry = SchemaRegistry()
        resolve = partial(registry.resolve, USER_TYPE)
        starts_an = parse_filter('userName sw "an"', resolve)

        totals = [
            (await backend.query(TENANT, USER, query)).total
            for query in (Query(count=1), Query(filter=starts_an, count=1)) * 2
        ]

        assert totals == [3, 2, 3, 2]


ACTIVE = "active eq true"
USERS_FOR_PAGES = 1_300
OFFSETS = (0, 1, 255, 256, 257, 300, 511, 512, 513, 700, 865, 866, 867, 1_299, 1_300)


async def create_users(backend: SqliteBackend, first: int, count: int) -> list[str]:
    """Users `u{i}`, every third one inactive, in one transaction."""
    async with backend.transaction(TENANT) as transaction:
        return [
            (
                await transaction.create(
                    USER, {"userName": f"u{i}", "active": i % 3 > 0}
                )
            ).id
            for i in range(first, first + count)
        ]


def by_offset(path: Path, query: Query) -> tuple[list[str], int]:
    """The page and total as plain LIMIT / OFFSET and count(*) give them."""
    statements = page_statements(TENANT, USER, query)
    with connect(path) as connection:
        rows = connection.execute(statements.page_sql, statements.page_params)
        ids = [row[0] for row in rows]
        total = connection.execute(statements.count_sql, statements.count_params)
        return ids, total.fetchone()[0]


async def served(backend: SqliteBackend, query: Query) -> tuple[list[str], int]:
    page = await backend.query(TENANT, USER, query)
    return [resource.id for resource in page.resources], page.total


def queries(text: str | None, count: int | None) -> list[Query]:
    expr = (
        None
        if text is None
        else parse_filter(text, partial(REGISTRY.resolve, USER_TYPE))
    )
    return [Query(filter=expr, start_index=o + 1, count=count) for o in OFFSETS]


class TestAnchors:
    """Far pages start from kept anchors and equal what LIMIT / OFFSET gives."""

    async def assert_pages_match(
        self, backend: SqliteBackend, path: Path, pages: list[Query]
    ) -> None:
        # Twice: the second round is served from what the first one kept.
        for _ in range(2):
            for query in pages:
                assert await served(backend, query) == by_offset(path, query), query

    @pytest.mark.parametrize(
        ("text", "count"),
        [
            (ACTIVE, 100),
            (ACTIVE, 1),
            (ACTIVE, None),
            (None, 50),
            ('userName sw "u1"', 7),
        ],
    )
    async def test_pages_at_many_offsets_equal_offset_pages(
        self, backend: SqliteBackend, path: Path, text: str | None, count: int | None
    ) -> None:
        await create_users(backend, 0, USERS_FOR_PAGES)

        await self.assert_pages_match(backend, path, queries(text, count))

    async def test_pages_follow_writes_that_shift_positions(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        ids = await create_users(backend, 0, USERS_FOR_PAGES)
        pages = queries(ACTIVE, 100)
        await self.assert_pages_match(backend, path, pages)

        for turn in range(3):
            async with backend.transaction(TENANT) as transaction:
                for user_id in ids[turn * 40 : turn * 40 + 25]:
                    await transaction.delete(USER, user_id)
                flipped = ids[600 + turn]
                await transaction.replace(USER, flipped, {"userName": f"f{turn}"})
            await create_users(backend, 10_000 + turn * 100, 30)

            await self.assert_pages_match(backend, path, pages)

    async def test_pages_follow_writes_of_another_process(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        ids = await create_users(backend, 0, USERS_FOR_PAGES)
        pages = queries(ACTIVE, 100)
        await self.assert_pages_match(backend, path, pages)
        other = SqliteBackend(path)
        await other.open()
        try:
            async with other.transaction(TENANT) as transaction:
                for user_id in ids[1:600:3]:
                    await transaction.delete(USER, user_id)
        finally:
            await other.close()

        await self.assert_pages_match(backend, path, pages)

    async def test_a_sorted_far_page_equals_the_offset_page(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        await create_users(backend, 0, USERS_FOR_PAGES)
        sort = SortSpec(
            parse_attr_path("userName", partial(REGISTRY.resolve, USER_TYPE)),
            descending=True,
        )
        pages = [replace(query, sort=sort) for query in queries(ACTIVE, 100)]

        await self.assert_pages_match(backend, path, pages)

    async def test_a_far_page_is_read_from_an_anchor_kept_between_requests(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        await create_users(backend, 0, USERS_FOR_PAGES)
        query = queries(ACTIVE, 10)[OFFSETS.index(700)]
        cache = PageCache()
        statements: list[str] = []

        with connect(path) as connection:
            connection.set_trace_callback(statements.append)
            pages = [
                fetch_page(connection, TENANT, USER, query, cache=cache)
                for _ in range(3)
            ]

        # The trace shows statements with their parameters filled in.
        steps = [i for i, s in enumerate(statements) if "LIMIT 1 OFFSET" in s]
        counts = [s for s in statements if s.startswith("SELECT count(*)")]
        # Offset 700 is 188 matches after the third anchor (match 512).
        reads = [i for i, s in enumerate(statements) if "LIMIT 10 OFFSET 188" in s]
        matches = USERS_FOR_PAGES - len(range(0, USERS_FOR_PAGES, 3))
        # The first match, one step per further anchor, one step past the last.
        assert len(steps) == 2 + (matches - 1) // ANCHOR_SPACING
        assert len(counts) == 1
        assert len(reads) == 3 and steps[-1] < reads[0]
        assert [page.total for page in pages] == [by_offset(path, query)[1]] * 3
        assert [r.id for r in pages[0].resources] == by_offset(path, query)[0]


class TestPageCache:
    """Anchors over a table of the even numbers 2, 4, ..., 2 * matches."""

    WALK = Walk(
        "SELECT seq FROM numbers WHERE seq % 2 = 0 AND seq >= ?"
        " ORDER BY seq LIMIT 1 OFFSET ?",
        "SELECT count(*) FROM numbers WHERE seq % 2 = 0 AND seq >= ?",
    )

    @staticmethod
    def numbers(matches: int) -> sqlite3.Connection:
        connection = sqlite3.connect(":memory:")
        connection.execute("CREATE TABLE numbers (seq INTEGER PRIMARY KEY)")
        connection.execute("CREATE TABLE resource_changes (n INTEGER NOT NULL)")
        connection.execute("INSERT INTO resource_changes (n) VALUES (0)")
        connection.execute(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n"
            " WHERE x < ?) INSERT INTO numbers SELECT x FROM n",
            (2 * matches + 1,),
        )
        return connection

    @pytest.mark.parametrize("matches", [0, 1, 255, 256, 257, 512, 1_000])
    def test_anchors_lead_to_every_match(self, matches: int) -> None:
        with closing(self.numbers(matches)) as connection:
            anchors = PageCache().anchors(connection, ("k", ()), self.WALK, [])

        starts = [anchors.start(offset) for offset in range(matches + 1)]

        assert anchors.total == matches
        assert [seq + 2 * skip for seq, skip in filter(None, starts)] == [
            2 * (offset + 1) for offset in range(matches)
        ]
        assert starts[matches] is None

    def test_many_matches_keep_a_bounded_number_of_anchors(self) -> None:
        matches = ANCHOR_SPACING * MAX_ANCHORS * 2 + 5
        with closing(self.numbers(matches)) as connection:
            anchors = PageCache().anchors(connection, ("k", ()), self.WALK, [])

        far = anchors.start(matches - 1)

        assert anchors.total == matches
        assert len(anchors.seqs) <= MAX_ANCHORS
        assert anchors.spacing == ANCHOR_SPACING * 4
        assert far is not None and far[0] + 2 * far[1] == 2 * matches

    def test_a_kept_total_is_the_total_of_the_kept_anchors(self) -> None:
        cache = PageCache()
        with closing(self.numbers(300)) as connection:
            cache.check(connection)
            anchors = cache.anchors(connection, ("SELECT 1", ()), self.WALK, [])
            total = cache.total(connection, "SELECT 1", ())

        assert total == anchors.total == 300


class TestKeptResources:
    """A reader hands out the resources of its pages again while nothing changed."""

    @pytest.fixture
    async def one_reader(self, path: Path) -> AsyncIterator[SqliteBackend]:
        opened = SqliteBackend(path, readers=1)
        await opened.open()
        try:
            yield opened
        finally:
            await opened.close()

    @staticmethod
    async def page(
        backend: SqliteBackend, start_index: int = 1, count: int | None = None
    ) -> list[StoredResource]:
        query = Query(start_index=start_index, count=count, with_groups=True)
        return (await backend.query(TENANT, USER, query)).resources

    async def test_a_page_read_again_gives_the_same_objects(
        self, one_reader: SqliteBackend
    ) -> None:
        for name in ("ann", "bo", "cy"):
            await create_user(one_reader, name)
        first = await self.page(one_reader)

        again = await self.page(one_reader)
        shifted = await self.page(one_reader, start_index=2, count=1)

        assert [a is b for a, b in zip(first, again, strict=True)] == [True] * 3
        assert shifted[0] is first[1]

    async def test_a_kept_user_shows_the_group_it_joined_since(
        self, one_reader: SqliteBackend
    ) -> None:
        ann = await create_user(one_reader, "ann")
        before = await self.page(one_reader)
        async with one_reader.transaction(TENANT) as transaction:
            group = await transaction.create(GROUP, {"displayName": "Staff"})
            await transaction.add_members(group.id, [ann])

        after = await self.page(one_reader)
        async with one_reader.transaction(TENANT) as transaction:
            await transaction.replace(GROUP, group.id, {"displayName": "Crew"})
        renamed = await self.page(one_reader)

        assert before[0].groups == []
        assert after[0].groups == [GroupRef(group.id, "Staff")]
        assert renamed[0].groups == [GroupRef(group.id, "Crew")]

    async def test_a_kept_user_follows_a_write_of_another_process(
        self, path: Path, one_reader: SqliteBackend
    ) -> None:
        ann = await create_user(one_reader, "ann", title="Clerk")
        before = await self.page(one_reader)
        other = SqliteBackend(path)
        await other.open()
        try:
            async with other.transaction(TENANT) as transaction:
                await transaction.replace(
                    USER, ann, {"userName": "ann", "title": "Chief"}
                )
        finally:
            await other.close()

        after = await self.page(one_reader)

        assert before[0].document["title"] == "Clerk"
        assert after[0].document["title"] == "Chief"
        assert after[0].version > before[0].version

    async def test_writes_that_touch_no_resource_keep_them(
        self, one_reader: SqliteBackend
    ) -> None:
        for name in ("ann", "bo"):
            await create_user(one_reader, name)
        before = await self.page(one_reader)

        await one_reader.create_tenant("elsewhere")
        after = await self.page(one_reader)

        assert [a is b for a, b in zip(before, after, strict=True)] == [True] * 2

    async def test_a_membership_written_by_another_process_shows(
        self, path: Path, one_reader: SqliteBackend
    ) -> None:
        ann = await create_user(one_reader, "ann")
        async with one_reader.transaction(TENANT) as transaction:
            group = await transaction.create(GROUP, {"displayName": "Staff"})
            await transaction.add_members(group.id, [ann])
        before = await self.page(one_reader)
        other = SqliteBackend(path)
        await other.open()
        try:
            await other.change_members(TENANT, group.id, remove=[ann])
        finally:
            await other.close()

        after = await self.page(one_reader)

        assert before[0].groups == [GroupRef(group.id, "Staff")]
        assert after[0].groups == []

    async def test_users_read_without_groups_are_kept_apart(
        self, one_reader: SqliteBackend
    ) -> None:
        await create_user(one_reader, "ann")
        await self.page(one_reader)

        bare = await one_reader.query(TENANT, USER, Query())

        assert bare.resources[0].groups is None

    async def test_groups_read_with_members_are_never_kept(
        self, one_reader: SqliteBackend
    ) -> None:
        async with one_reader.transaction(TENANT) as transaction:
            await transaction.create(GROUP, {"displayName": "Staff"})
        pages = [
            await one_reader.query(TENANT, GROUP, Query(with_members=True))
            for _ in range(2)
        ]

        assert pages[0].resources[0] is not pages[1].resources[0]
        assert pages[0].resources[0] == pages[1].resources[0]

    async def test_a_reader_keeps_a_bounded_number_of_resources(
        self, path: Path, backend: SqliteBackend
    ) -> None:
        for name in ("ann", "bo", "cy", "di", "ed"):
            await create_user(backend, name)
        cache = PageCache(resources=4)

        with connect(path) as connection:
            first = fetch_page(connection, TENANT, USER, Query(count=3), cache=cache)
            third = fetch_page(
                connection, TENANT, USER, Query(start_index=3, count=3), cache=cache
            )
            kept = sorted(cache.resources(TENANT, False))
            again = fetch_page(
                connection, TENANT, USER, Query(start_index=3, count=1), cache=cache
            )

        # The second page found "cy" kept; keeping "di" and "ed" as well went
        # past four, so the reader forgot the rest and kept those two.
        assert third.resources[0] is first.resources[2]
        assert kept == sorted(r.id for r in third.resources[1:])
        assert again.resources[0] is not third.resources[0]


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="a Linux scheduling policy")
async def test_connection_threads_wake_without_preempting_the_event_loop(
    backend: SqliteBackend,
) -> None:
    await backend.query(TENANT, USER, Query(count=1))

    policies = [
        os.sched_getscheduler(thread.native_id)
        for thread in threading.enumerate()
        if thread.native_id is not None and thread.is_alive()
    ]

    assert policies.count(os.SCHED_BATCH) >= 3  # the writer and two readers
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


class TestSeveralProcesses:
    async def test_two_backends_on_one_file_keep_user_names_unique(
        self, path: Path
    ) -> None:
        first, second = SqliteBackend(path), SqliteBackend(path)
        await first.open()
        await second.open()
        outcomes: list[str] = []

        async def create(backend: SqliteBackend, user_name: str) -> None:
            try:
                await create_user(backend, user_name)
            except ConflictError:
                outcomes.append("conflict")
            else:
                outcomes.append("created")

        try:
            async with anyio.create_task_group() as tasks:
                for i in range(10):
                    tasks.start_soon(
                        create, first if i % 2 else second, "pat" if i % 3 else "PAT"
                    )
        finally:
            await first.close()
            await second.close()

        assert sorted(outcomes) == ["conflict"] * 9 + ["created"]


class TestTranslate:
    """Driver errors that no test can provoke for real map as the real ones do."""

    @pytest.mark.parametrize(
        "message",
        [
            "database is locked",
            "disk I/O error",
            "attempt to write a readonly database",
            "database or disk is full",
            "unable to open database file",
        ],
    )
    def test_trouble_with_the_database_is_unavailable(self, message: str) -> None:
        translated = translate(sqlite3.OperationalError(message))

        assert isinstance(translated, UnavailableError)
        assert message in translated.reason

    def test_a_mistake_in_a_statement_stays_what_it_is(self) -> None:
        error = sqlite3.OperationalError("no such column: nope")

        assert translate(error) is error

    def test_a_unique_display_name_is_a_conflict_on_display_name(self) -> None:
        error = sqlite3.IntegrityError(
            "UNIQUE constraint failed: resources.tenant, resources.display_name_folded"
        )

        translated = translate(error)

        assert isinstance(translated, ConflictError)
        assert translated.attribute == "displayName"
