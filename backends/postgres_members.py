"""Member-only changes of a group on Postgres: one statement, one group at a time.

A PATCH that only adds or removes members (Entra's member adds) needs no read
of the group, so the Postgres backend makes it one statement (`CHANGE_MEMBERS`,
a call of the function that `MIGRATION` creates), which the server runs in a
transaction of its own: no BEGIN, read or COMMIT round trip holds the group's
row lock. Changes of one group from one process
also wait here, two at most at the server: one holding the lock, the next one
waiting for it so that the hand-over does not wait for this process's event
loop. More waiters there would each hold a pool connection, and cost the
server more per change than they save (docs/postgres.md, "Transactions").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from scim_gateway.backends.base import GROUP, StoredResource
from scim_gateway.backends.errors import (
    MemberNotFoundError,
    NotFoundError,
    VersionMismatchError,
)
from scim_gateway.backends.postgres_rows import to_resource

__all__ = ["CHANGE_MEMBERS", "IN_FLIGHT", "MIGRATION", "GroupQueues", "change_members"]

Connection = asyncpg.Connection | PoolConnectionProxy

# Changes of one group a process lets reach the server at once.
IN_FLIGHT = 2

# `scim_change_members($1 tenant, $2 group, $3 ids to add, $4 ids to remove,
# $5 expected version or NULL)`: the ids distinct, the two lists disjoint.
#
# One statement, which PostgreSQL runs in a transaction of its own, so the
# group stays locked for no round trip between the gateway and the server (no
# BEGIN, no read, no COMMIT of its own). `grp` locks the group and, once a
# writer that held the lock commits, sees its newest version (READ COMMITTED
# re-reads a locked row); the rest of the statement reads the snapshot taken
# before that wait. `seen` is the group in that snapshot: when it differs from
# `grp`, another write to the group committed meanwhile, and memberships it
# added are not visible to the DELETE here. The statement then changes nothing,
# unless it only adds (an insert sees every committed row through the unique
# index), and the caller runs the change again in a transaction that locks the
# group first.
#
# A function, for its plan: prepared by the client, the statement was planned
# anew on every call (1.5-2 ms of planning in EXPLAIN against 0.2-0.5 ms of
# execution), since the generic plan's estimates for arrays of unknown length
# came out costlier than a plan for the values at hand. PL/pgSQL keeps the plan
# of its statement per session, and `plan_cache_mode` makes that the generic
# plan at once; its lookups are by primary key whatever the values.
MIGRATION = """
CREATE FUNCTION scim_change_members(text, text, text[], text[], integer)
RETURNS TABLE (applied boolean, seen_version integer, found text[], id text,
               resource_type text, document jsonb, version integer,
               created timestamptz, last_modified timestamptz)
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $function$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH found AS (
    SELECT x.id, x.resource_type FROM resources x
    WHERE x.tenant = $1 AND x.id = ANY($3)
), seen AS (
    SELECT s.version FROM resources s
    WHERE s.tenant = $1 AND s.resource_type = 'Group' AND s.id = $2
), grp AS (
    SELECT r.id, r.resource_type, r.document, r.version, r.created,
           r.last_modified
    FROM resources r
    WHERE r.tenant = $1 AND r.resource_type = 'Group' AND r.id = $2
    FOR UPDATE
), ok AS (
    SELECT grp.id FROM grp
    WHERE ($5 IS NULL OR grp.version = $5)
      AND (SELECT count(*) FROM found) = cardinality($3)
      AND (cardinality($4) = 0 OR grp.version = (SELECT version FROM seen))
), removed AS (
    DELETE FROM memberships m USING ok
    WHERE m.tenant = $1 AND m.group_id = ok.id AND m.member_id = ANY($4)
    RETURNING m.member_id
), added AS (
    INSERT INTO memberships (tenant, group_id, member_id, member_type)
    SELECT $1, ok.id, found.id, found.resource_type FROM ok, found
    ON CONFLICT DO NOTHING
    RETURNING member_id
), bumped AS (
    -- A version for the removal and one for the addition, as the two calls
    -- of a transaction (remove_members, add_members) give.
    UPDATE resources r
    SET version = r.version + (EXISTS (SELECT 1 FROM removed))::integer
                            + (EXISTS (SELECT 1 FROM added))::integer,
        last_modified = statement_timestamp()
    FROM ok WHERE r.tenant = $1 AND r.resource_type = 'Group' AND r.id = ok.id
      AND EXISTS (SELECT 1 FROM removed UNION ALL SELECT 1 FROM added)
    RETURNING r.id, r.resource_type, r.document, r.version, r.created,
              r.last_modified
), final AS (
    SELECT * FROM bumped
    UNION ALL SELECT * FROM grp WHERE NOT EXISTS (SELECT 1 FROM bumped)
)
SELECT EXISTS (SELECT 1 FROM ok), (SELECT version FROM seen),
       ARRAY(SELECT id FROM found), final.*
FROM (VALUES (1)) AS one LEFT JOIN final ON true;
END
$function$;

-- plan_cache_mode came with PostgreSQL 12; on 11 the server chooses the plan.
DO $migration$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'plan_cache_mode') THEN
        ALTER FUNCTION scim_change_members(text, text, text[], text[], integer)
            SET plan_cache_mode = force_generic_plan;
    END IF;
END
$migration$;
"""

CHANGE_MEMBERS = (
    "SELECT applied, seen_version, found, id, resource_type, document, version,"
    " created, last_modified FROM scim_change_members($1, $2, $3, $4, $5)"
)


class _Queue:
    __slots__ = ("slots", "users")

    def __init__(self) -> None:
        self.slots = asyncio.Semaphore(IN_FLIGHT)
        self.users = 0


class GroupQueues:
    """`IN_FLIGHT` turns at a time per group; it forgets a group once idle."""

    def __init__(self) -> None:
        self._queues: dict[tuple[str, str], _Queue] = {}

    @asynccontextmanager
    async def turn(self, tenant: str, group_id: str) -> AsyncIterator[None]:
        key = (tenant, group_id)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue()
        queue.users += 1
        try:
            async with queue.slots:
                yield
        finally:
            queue.users -= 1
            if not queue.users:
                del self._queues[key]

    def __len__(self) -> int:
        return len(self._queues)


async def change_members(
    connection: Connection,
    tenant: str,
    group_id: str,
    add: Sequence[str],
    remove: Sequence[str],
    expected_version: int | None,
) -> StoredResource | None:
    """Remove, then add, members of a group in one statement; the group after.

    `add` and `remove` hold distinct ids the database can store. None when
    the change has to be made again under the group's lock: another write to
    the group committed after the statement's snapshot, and the statement
    cannot tell what that write did to the members (`CHANGE_MEMBERS`).

    Raises:
        NotFoundError, VersionMismatchError, MemberNotFoundError: as
            `Backend.change_members`.
    """
    args = (tenant, group_id, add, remove, expected_version)
    try:
        row = await connection.fetchrow(CHANGE_MEMBERS, *args)
    except asyncpg.ForeignKeyViolationError as exc:
        # A member was deleted by a concurrent transaction meanwhile.
        raise MemberNotFoundError(add) from exc
    assert row is not None  # the outcome is one row whatever happened
    if row["applied"]:
        return to_resource(row)
    version = row["version"]
    if version is None:
        raise NotFoundError(GROUP, group_id)
    if expected_version is not None and version != expected_version:
        raise VersionMismatchError(expected_version, version)
    if row["seen_version"] != version:
        return None
    found = set(row["found"])
    raise MemberNotFoundError([i for i in add if i not in found])
