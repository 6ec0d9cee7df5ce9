"""Member-only changes of a group on Postgres: one statement, one group at a time.

A PATCH that only adds or removes members (Entra's member adds) needs no read
of the group, so the Postgres backend makes it one statement (`CHANGE_MEMBERS`),
which the server runs in a transaction of its own: no BEGIN, read or COMMIT
round trip holds the group's row lock. Changes of one group from one process
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
from scim_gateway.backends.postgres_statements import CHANGE_MEMBERS

__all__ = ["IN_FLIGHT", "GroupQueues", "change_members"]

Connection = asyncpg.Connection | PoolConnectionProxy

# Changes of one group a process lets reach the server at once.
IN_FLIGHT = 2


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
