"""Planner statistics and vacuum of the gateway's tables when autovacuum is off.

PostgreSQL plans from the statistics in `pg_class` and `pg_statistic`. A table
created empty keeps `reltuples = 0` until something analyzes it, and the
planner then takes 10,000 users for none: every index looks as good as any
other, and a GET by id may walk a partial index of the whole tenant instead
of the primary key (7 ms instead of 0.03 ms). Autovacuum analyzes and vacuums
tables as they change; on a server that runs without it, `StatisticsKeeper`
does the same for the gateway's own tables, with autovacuum's own thresholds
and settings, so that plans and the visibility map (index-only counts) stay
as they would be with it. With autovacuum on it checks nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from asyncpg.pool import PoolConnectionProxy

__all__ = ["TABLES", "StatisticsKeeper", "due_work"]

logger = logging.getLogger(__name__)

Connection = asyncpg.Connection | PoolConnectionProxy

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


async def due_work(connection: Connection) -> list[str]:
    """The maintenance statements the tables need now; none with autovacuum on."""
    statements = []
    for row in await connection.fetch(_DUE, list(TABLES)):
        if row["vacuum"]:
            statements.append(f"VACUUM (ANALYZE, SKIP_LOCKED) {row['name']}")
        elif row["analyze"]:
            statements.append(f"ANALYZE (SKIP_LOCKED) {row['name']}")
    return statements


class StatisticsKeeper:
    """A task that runs `due_work` every `interval` seconds on a pool connection.

    Failures (a lost server, a closed pool) are logged at DEBUG and retried at
    the next tick: the keeper never ends the process nor a request.
    """

    def __init__(
        self,
        run: Callable[[Callable[[Connection], Awaitable[None]]], Awaitable[None]],
        *,
        interval: float,
    ) -> None:
        self._run = run
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self._interval > 0:
            self._task = asyncio.create_task(self._loop(), name="postgres-statistics")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if _is_cancelling():
                raise  # the caller's own cancellation

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._run(_maintain)
            except Exception:
                logger.debug("postgres.maintenance_failed", exc_info=True)


def _is_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _maintain(connection: Connection) -> None:
    for statement in await due_work(connection):
        logger.info("postgres.maintenance statement=%r", statement)
        await connection.execute(statement)
