"""What only the SQLite backend has: its file, migrations, indexes and failures."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import closing, contextmanager
from functools import partial
from pathlib import Path

import anyio
import pytest

from scim_gateway.backends.base import GROUP, USER, Query
from scim_gateway.backends.errors import ConflictError, UnavailableError
from scim_gateway.backends.sql import SqlValue
from scim_gateway.backends.sqlite import SqliteBackend, SqliteTransaction, translate
from scim_gateway.backends.sqlite_query import (
    groups_statement,
    members_statement,
    page_statements,
    resource_statement,
)
from scim_gateway.backends.sqlite_schema import MIGRATIONS, configure
from scim_gateway.filters import parse_filter
from scim_gateway.schemas import GROUP_TYPE, USER_TYPE, SchemaRegistry

TENANT = "acme"


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


def plan(connection: sqlite3.Connection, sql: str, params: Sequence[SqlValue]) -> str:
    rows = connection.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(str(row[3]) for row in rows)


async def create_user(backend: SqliteBackend, user_name: str) -> str:
    async with backend.transaction(TENANT) as transaction:
        return (await transaction.create(USER, {"userName": user_name})).id


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

    async def test_the_database_is_in_wal_mode(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        with connect(path) as connection:
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]

        assert mode == "wal"

    async def test_the_writer_checkpoints_the_wal_every_ten_thousand_pages(
        self, backend: SqliteBackend
    ) -> None:
        def pragmas(connection: sqlite3.Connection) -> tuple[int, int]:
            checkpoint = connection.execute("PRAGMA wal_autocheckpoint").fetchone()
            limit = connection.execute("PRAGMA journal_size_limit").fetchone()
            return checkpoint[0], limit[0]

        async with backend.transaction(TENANT) as transaction:
            assert isinstance(transaction, SqliteTransaction)
            found = await transaction._run(pragmas)

        assert found == (10_000, 64 * 1024 * 1024)

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

    async def test_an_unfiltered_page_walks_the_type_index_in_creation_order(
        self, backend: SqliteBackend, path: Path
    ) -> None:
        statements = page_statements(TENANT, USER, Query(count=100))

        with connect(path) as connection:
            found = plan(connection, statements.page_sql, statements.page_params)

        assert "USING INDEX resources_by_type" in found
        assert "TEMP B-TREE" not in found

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
