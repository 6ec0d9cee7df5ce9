"""The Postgres backend's kept totals (migration 5) and its table maintenance."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from scim_gateway.backends.base import GROUP, USER, Query
from scim_gateway.backends.invitations import InvitationRecord, InvitationState
from scim_gateway.backends.postgres import PostgresBackend
from scim_gateway.backends.postgres_maintenance import (
    StatisticsKeeper,
    due_tables,
)
from scim_gateway.backends.postgres_migrations import MIGRATIONS, migrate
from tests.backends import POSTGRES_URL
from tests.unit.backends.test_postgres_query import FILL

pytestmark = pytest.mark.postgres

TENANT = "acme"


async def create(backend: PostgresBackend, resource_type: str, name: str) -> str:
    document: dict[str, Any] = (
        {"userName": name} if resource_type == USER else {"displayName": name}
    )
    async with backend.transaction(TENANT) as tx:
        created = await tx.create(resource_type, document)
    return created.id


async def total(backend: PostgresBackend, resource_type: str) -> int:
    return (await backend.query(TENANT, resource_type, Query(count=0))).total


class TestKeptTotals:
    async def test_creates_and_deletes_move_the_total_of_their_type(
        self, postgres: PostgresBackend
    ) -> None:
        users = [await create(postgres, USER, f"u{n}") for n in range(3)]
        await create(postgres, GROUP, "staff")

        async with postgres.transaction(TENANT) as tx:
            await tx.delete(USER, users[0])

        assert await total(postgres, USER) == 2
        assert await total(postgres, GROUP) == 1

    async def test_a_rolled_back_create_counts_nothing(
        self, postgres: PostgresBackend
    ) -> None:
        with pytest.raises(RuntimeError):
            async with postgres.transaction(TENANT) as tx:
                await tx.create(USER, {"userName": "ann"})
                raise RuntimeError("abandon")

        assert await total(postgres, USER) == 0

    async def test_concurrent_creates_are_all_counted(
        self, postgres: PostgresBackend, sql: asyncpg.Connection
    ) -> None:
        await asyncio.gather(*(create(postgres, USER, f"u{n}") for n in range(40)))

        assert await total(postgres, USER) == 40
        page = await postgres.query(TENANT, USER, Query(start_index=39, count=5))
        assert (len(page.resources), page.total) == (2, 40)
        assert await sql.fetchval("SELECT sum(n) FROM resource_counts") == 40

    async def test_a_deleted_tenant_keeps_only_its_removals(
        self, postgres: PostgresBackend, sql: asyncpg.Connection
    ) -> None:
        await postgres.create_tenant(TENANT)
        await asyncio.gather(*(create(postgres, USER, f"u{n}") for n in range(5)))

        await postgres.delete_tenant(TENANT)
        # As a release before migration 7 deleted a tenant.
        await sql.execute("DELETE FROM resource_counts WHERE tenant = $1", TENANT)

        assert await total(postgres, USER) == 0
        census = await sql.fetch(
            "SELECT sum(n) AS total, sum(removed) AS removed FROM resource_counts"
            " WHERE tenant = $1",
            TENANT,
        )
        assert (census[0]["total"], census[0]["removed"]) == (0, 5)

    async def test_removals_are_counted_beside_the_totals(
        self, postgres: PostgresBackend, sql: asyncpg.Connection
    ) -> None:
        users = [await create(postgres, USER, f"u{n}") for n in range(3)]
        async with postgres.transaction(TENANT) as tx:
            await tx.delete(USER, users[0])

        census = await sql.fetch(
            "SELECT sum(n) AS total, sum(removed) AS removed FROM resource_counts"
        )
        assert (census[0]["total"], census[0]["removed"]) == (2, 1)

    async def test_the_migration_counts_the_resources_already_stored(
        self, schema: str, sql: asyncpg.Connection
    ) -> None:
        await sql.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        earlier = [m for m in MIGRATIONS if m.version < 5]
        await _apply(sql, earlier)
        await sql.execute(FILL, TENANT)

        later = [m.version for m in MIGRATIONS if m.version >= 5]
        assert await migrate(sql, schema=schema) == later

        backend = PostgresBackend(POSTGRES_URL, schema=schema)
        await backend.open()
        try:
            assert await total(backend, USER) == 20_000
            await create(backend, USER, "one more")
            assert await total(backend, USER) == 20_001
        finally:
            await backend.close()


async def _apply(sql: asyncpg.Connection, migrations: list[Any]) -> None:
    await sql.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
        " name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())"
    )
    for migration in migrations:
        await sql.execute(migration.sql)
        await sql.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            migration.version,
            migration.name,
        )


class TestInvitationHeldBack:
    async def test_a_put_without_its_message_is_written_at_commit(
        self, postgres: PostgresBackend, sql: asyncpg.Connection
    ) -> None:
        user_id = await create(postgres, USER, "ann")
        record = _invitation(user_id)

        async with postgres.transaction(TENANT) as tx:
            await tx.put_invitation(record)

        assert await sql.fetchval("SELECT state FROM invitations") == "invited"

    async def test_a_put_is_visible_to_the_next_read_of_its_transaction(
        self, postgres: PostgresBackend
    ) -> None:
        user_id = await create(postgres, USER, "ann")
        record = _invitation(user_id)

        async with postgres.transaction(TENANT) as tx:
            await tx.put_invitation(record)
            read = await tx.get_invitation(user_id)

        assert read == record

    async def test_a_put_is_dropped_with_its_rolled_back_transaction(
        self, postgres: PostgresBackend, sql: asyncpg.Connection
    ) -> None:
        user_id = await create(postgres, USER, "ann")
        record = _invitation(user_id)

        with pytest.raises(RuntimeError):
            async with postgres.transaction(TENANT) as tx:
                await tx.put_invitation(record)
                raise RuntimeError("abandon")

        assert await sql.fetchval("SELECT count(*) FROM invitations") == 0


def _invitation(user_id: str) -> InvitationRecord:
    return InvitationRecord(
        tenant=TENANT,
        user_id=user_id,
        state=InvitationState.INVITED,
        token_digest=f"digest-{user_id}",
        invited_at=datetime(2026, 1, 2, tzinfo=UTC),
    )


class TestMaintenance:
    @pytest.fixture
    async def without_autovacuum(self, sql: asyncpg.Connection) -> None:
        if await sql.fetchval("SELECT current_setting('autovacuum')::boolean"):
            pytest.skip("the server runs autovacuum, which keeps the statistics")

    async def test_a_filled_table_is_analyzed_and_vacuumed(
        self,
        postgres: PostgresBackend,
        sql: asyncpg.Connection,
        without_autovacuum: None,
    ) -> None:
        await sql.execute(FILL, TENANT)
        before = await sql.fetchval(
            "SELECT reltuples FROM pg_class WHERE oid = 'resources'::regclass"
        )
        keeper = StatisticsKeeper(postgres._run, interval=1)
        await _until_due(sql, "resources")

        due = {d.table: d for d in await due_tables(sql)}
        await postgres._run(keeper.maintain)

        assert before <= 0
        assert due["resources"].vacuum and due["resources"].analyze
        assert "resources" not in {d.table for d in await due_tables(sql)}
        # The visibility map depends on other sessions' snapshots: not asserted.
        after = await sql.fetchrow(
            "SELECT c.reltuples, s.vacuum_count FROM pg_class c"
            " JOIN pg_stat_user_tables s ON s.relid = c.oid"
            " WHERE c.oid = 'resources'::regclass"
        )
        assert after is not None
        assert (after["reltuples"], after["vacuum_count"]) == (20_000, 1)

    async def test_a_second_vacuum_waits_for_its_interval(
        self,
        postgres: PostgresBackend,
        sql: asyncpg.Connection,
        without_autovacuum: None,
    ) -> None:
        keeper = StatisticsKeeper(postgres._run, interval=1, vacuum_interval=3600)
        await sql.execute(FILL, TENANT)
        await postgres._run(keeper.maintain)
        await sql.execute("DELETE FROM resources")
        await _until_due(sql, "resources")

        await postgres._run(keeper.maintain)

        vacuums = await sql.fetchval(
            "SELECT vacuum_count FROM pg_stat_user_tables"
            " WHERE relid = 'resources'::regclass"
        )
        assert vacuums == 1

    async def test_the_backend_keeps_statistics_by_itself(
        self, schema: str, sql: asyncpg.Connection, without_autovacuum: None
    ) -> None:
        backend = PostgresBackend(POSTGRES_URL, schema=schema, maintenance_interval=0.1)
        await backend.open()
        try:
            await sql.execute(FILL, TENANT)
            for _ in range(100):
                analyzed = await sql.fetchval(
                    "SELECT reltuples FROM pg_class WHERE oid = 'resources'::regclass"
                )
                if analyzed > 0:
                    break
                await asyncio.sleep(0.1)
        finally:
            await backend.close()

        assert analyzed == 20_000


async def _until_due(sql: asyncpg.Connection, table: str) -> None:
    """Wait until this session's changes reach the statistics (flushed lazily)."""
    for _ in range(50):
        await sql.execute("SELECT pg_stat_force_next_flush()")
        if any(d.table == table and d.vacuum for d in await due_tables(sql)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{table} never became due")
