"""Planner statistics and vacuum of the gateway's tables when autovacuum is off.

PostgreSQL plans from the statistics in `pg_class` and `pg_statistic`. A table
created empty keeps `reltuples = 0` until something analyzes it, and the
planner then takes 10,000 users for none: every index looks as good as any
other, and a GET by id may walk a partial index of the whole tenant instead
of the primary key (7 ms instead of 0.03 ms). Autovacuum analyzes and vacuums
tables as they change; on a server that runs without it, `StatisticsKeeper`
does the same for the gateway's own tables, with autovacuum's own thresholds
and settings, so that plans and the visibility map (index-only scans) stay
as they would be with it. With autovacuum on it leaves all to the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from scim_gateway.backends.periodic import PeriodicTask

__all__ = ["TABLES", "Due", "StatisticsKeeper", "due_tables"]

logger = logging.getLogger(__name__)

Connection = asyncpg.Connection | PoolConnectionProxy

# A vacuum with autovacuum's cost delay may take minutes on a large table:
# longer than the pool's command timeout, which would cancel it every time.
_MAINTENANCE_TIMEOUT = 3600.0

_TASK_NAME = "postgres-statistics"

# The tables that grow with the data (`postgres_migrations`).
TABLES = ("resources", "memberships", "invitations", "outbox", "resource_counts")

# What autovacuum would do now to each of the tables, by its own rules
# (thresholds from the server's settings; the table's reloptions are not
# read, since with autovacuum off no table has any worth honouring).
_DUE = """
SELECT c.relname::text AS name,
       s.n_dead_tup > current_setting('autovacuum_vacuum_threshold')::float8
           + current_setting('autovacuum_vacuum_scale_factor')::float8
             * greatest(c.reltuples, 0)
       OR s.n_ins_since_vacuum
           > current_setting('autovacuum_vacuum_insert_threshold')::float8
           + current_setting('autovacuum_vacuum_insert_scale_factor')::float8
             * greatest(c.reltuples, 0) AS vacuum,
       s.n_mod_since_analyze
           > current_setting('autovacuum_analyze_threshold')::float8
           + current_setting('autovacuum_analyze_scale_factor')::float8
             * greatest(c.reltuples, 0)
       OR (c.reltuples <= 0 AND s.n_live_tup > 0) AS analyze
FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.oid = ANY(ARRAY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t))
  AND NOT current_setting('autovacuum')::boolean
"""


@dataclass(frozen=True)
class Due:
    """What autovacuum would do to one table now."""

    table: str
    vacuum: bool
    analyze: bool


async def due_tables(connection: Connection) -> list[Due]:
    """The tables that need a vacuum or an analyze; none with autovacuum on."""
    rows = await connection.fetch(_DUE, list(TABLES))
    return [
        Due(row["name"], row["vacuum"], row["analyze"])
        for row in rows
        if row["vacuum"] or row["analyze"]
    ]


class StatisticsKeeper:
    """A task that does what `due_tables` says on a pool connection.

    It looks every `interval` seconds, since a fresh table needs statistics
    within seconds of being filled, and analyzes at once; it vacuums a table
    at most once per `vacuum_interval` (autovacuum looks once a minute), and
    with autovacuum's cost-based delay, so that a vacuum spreads its work as
    autovacuum's would instead of taking a core from the requests. Failures
    (a lost server, a closed pool) are logged at DEBUG and retried at the
    next look: the keeper never ends the process nor a request.
    """

    def __init__(
        self,
        run: Callable[[Callable[[Connection], Awaitable[None]]], Awaitable[None]],
        *,
        interval: float,
        vacuum_interval: float = 60.0,
    ) -> None:
        self._run = run
        self._interval = interval
        self._vacuum_interval = vacuum_interval
        self._vacuumed: dict[str, float] = {}
        self._task = PeriodicTask(self._look, interval=interval, name=_TASK_NAME)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def maintain(self, connection: Connection) -> None:
        """One look at the tables, and what is due."""
        now = asyncio.get_running_loop().time()
        for due in await due_tables(connection):
            last = self._vacuumed.get(due.table)
            if due.vacuum and (last is None or now - last >= self._vacuum_interval):
                self._vacuumed[due.table] = now
                await _vacuum(connection, due.table)
            elif due.analyze:
                logger.info("postgres.analyze table=%s", due.table)
                await connection.execute(
                    f"ANALYZE (SKIP_LOCKED) {due.table}", timeout=_MAINTENANCE_TIMEOUT
                )

    async def _look(self) -> None:
        try:
            await self._run(self.maintain)
        except Exception:
            logger.debug("postgres.maintenance_failed", exc_info=True)


async def _vacuum(connection: Connection, table: str) -> None:
    logger.info("postgres.vacuum table=%s", table)
    await connection.execute(
        "SELECT set_config('vacuum_cost_delay',"
        " current_setting('autovacuum_vacuum_cost_delay'), false)"
    )
    try:
        await connection.execute(
            f"VACUUM (ANALYZE, SKIP_LOCKED) {table}", timeout=_MAINTENANCE_TIMEOUT
        )
    finally:
        await connection.execute("RESET vacuum_cost_delay")
