"""Units of work that share one COMMIT on the SQLite writer (sqlite_units)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from scim_gateway.backends.base import GROUP, USER, Query
from scim_gateway.backends.errors import MemberNotFoundError
from scim_gateway.backends.sqlite import SqliteBackend, SqliteTransaction
from scim_gateway.backends.sqlite_units import GROUP_LIMIT

TENANT = "acme"


class Boom(Exception):
    pass


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[SqliteBackend]:
    opened = SqliteBackend(tmp_path / "scim.sqlite3")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def count_commits(backend: SqliteBackend) -> list[str]:
    """The COMMIT statements the writer runs from now on (one reach inside)."""
    commits: list[str] = []

    def trace(statement: str) -> None:
        if statement == "COMMIT":
            commits.append(statement)

    writer = backend._writer
    assert writer is not None
    await writer.run(lambda c: c.set_trace_callback(trace))
    return commits


async def user_names(backend: SqliteBackend) -> set[str]:
    page = await backend.query(TENANT, USER, Query(count=1000))
    return {resource.document["userName"] for resource in page.resources}


class Holder:
    """A unit that holds the writer until released, so that others queue."""

    def __init__(self) -> None:
        self.go = anyio.Event()

    async def create(self, backend: SqliteBackend, user_name: str) -> None:
        async with backend.transaction(TENANT) as transaction:
            await transaction.create(USER, {"userName": user_name})
            await self.go.wait()


async def create(backend: SqliteBackend, user_name: str) -> str:
    async with backend.transaction(TENANT) as transaction:
        stored = await transaction.create(USER, {"userName": user_name})
    return stored.id


async def test_queued_units_share_commits_and_each_returns_committed(
    backend: SqliteBackend,
) -> None:
    commits = await count_commits(backend)
    holder = Holder()
    seen: dict[str, bool] = {}

    async def create_and_read(user_name: str) -> None:
        user_id = await create(backend, user_name)
        # Another connection sees it: the unit returned after its COMMIT.
        seen[user_name] = (await backend.get(TENANT, USER, user_id)) is not None

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(holder.create, backend, "first")
        await wait_all_tasks_blocked()
        for i in range(2 * GROUP_LIMIT):
            tasks.start_soon(create_and_read, f"user{i}")
        await wait_all_tasks_blocked()
        holder.go.set()

    assert seen == {f"user{i}": True for i in range(2 * GROUP_LIMIT)}
    assert len(await user_names(backend)) == 2 * GROUP_LIMIT + 1
    assert 2 <= len(commits) < GROUP_LIMIT


async def test_a_failing_unit_in_a_group_leaves_the_others_written(
    backend: SqliteBackend,
) -> None:
    holder = Holder()
    outcomes: dict[str, str] = {}

    async def failing() -> None:
        try:
            async with backend.transaction(TENANT) as transaction:
                await transaction.create(USER, {"userName": "undone"})
                raise Boom
        except Boom:
            outcomes["undone"] = "failed"

    async def succeeding(user_name: str) -> None:
        await create(backend, user_name)
        outcomes[user_name] = "created"

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(holder.create, backend, "first")
        await wait_all_tasks_blocked()
        tasks.start_soon(succeeding, "second")
        await wait_all_tasks_blocked()
        tasks.start_soon(failing)
        await wait_all_tasks_blocked()
        tasks.start_soon(succeeding, "third")
        await wait_all_tasks_blocked()
        holder.go.set()

    assert outcomes == {"second": "created", "undone": "failed", "third": "created"}
    assert await user_names(backend) == {"first", "second", "third"}


async def test_held_back_writes_that_fail_undo_only_their_unit(
    backend: SqliteBackend,
) -> None:
    async with backend.transaction(TENANT) as transaction:
        group = await transaction.create(GROUP, {"displayName": "Staff"})
    holder = Holder()
    caught: list[MemberNotFoundError] = []

    async def add_unknown_member() -> None:
        try:
            async with backend.transaction(TENANT) as transaction:
                await transaction.create(USER, {"userName": "undone"})
                await transaction.add_members(group.id, ["no-such-id"])
        except MemberNotFoundError as exc:
            caught.append(exc)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(holder.create, backend, "first")
        await wait_all_tasks_blocked()
        tasks.start_soon(add_unknown_member)
        await wait_all_tasks_blocked()
        tasks.start_soon(create, backend, "last")
        await wait_all_tasks_blocked()
        holder.go.set()

    assert [exc.member_ids for exc in caught] == [["no-such-id"]]
    assert await user_names(backend) == {"first", "last"}


async def test_a_waiter_cancelled_while_the_unit_ends_leaves_none_waiting(
    backend: SqliteBackend,
) -> None:
    """The unit counted on the waiter; it commits itself once it finds it gone."""
    scope = anyio.CancelScope()
    go = anyio.Event()

    async def holder() -> None:
        async with backend.transaction(TENANT) as transaction:
            await transaction.create(USER, {"userName": "first"})
            await go.wait()
            # A slow last hop (one reach inside): the waiter goes meanwhile.
            assert isinstance(transaction, SqliteTransaction)
            transaction._defer(lambda connection: time.sleep(0.2))

    async def waiter() -> None:
        with scope:
            await create(backend, "cancelled")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(holder)
            await wait_all_tasks_blocked()
            tasks.start_soon(waiter)
            await wait_all_tasks_blocked()
            go.set()
            await anyio.sleep(0.1)
            scope.cancel()

    assert await user_names(backend) == {"first"}


async def test_a_waiter_cancelled_after_the_hand_over_leaves_none_waiting(
    backend: SqliteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock went to a waiter that never ran; a task commits for it.

    anyio delivers its cancellations only to a task still waiting, so a
    plain asyncio cancel, as a host application may send, makes the case.
    """
    holder = Holder()
    waiting: list[asyncio.Task[object]] = []
    cancelled: list[bool] = []
    lock = backend._queue._lock
    release = lock.release

    def release_then_cancel() -> None:
        # The one moment no test reaches otherwise: between the hand-over
        # and the waiter's next step.
        release()
        if backend._queue._group is not None and waiting:
            waiting.pop().cancel()

    monkeypatch.setattr(lock, "release", release_then_cancel)

    async def waiter() -> None:
        task = asyncio.current_task()
        assert task is not None
        waiting.append(task)
        try:
            await create(backend, "cancelled")
        except asyncio.CancelledError:
            cancelled.append(True)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(holder.create, backend, "first")
            await wait_all_tasks_blocked()
            tasks.start_soon(waiter)
            await wait_all_tasks_blocked()
            holder.go.set()

    assert cancelled == [True]
    assert await user_names(backend) == {"first"}


async def test_a_standalone_write_commits_what_finished_units_left(
    backend: SqliteBackend,
) -> None:
    holder = Holder()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(holder.create, backend, "first")
        await wait_all_tasks_blocked()
        tasks.start_soon(create, backend, "second")
        await wait_all_tasks_blocked()
        tasks.start_soon(backend.create_tenant, "other")
        await wait_all_tasks_blocked()
        holder.go.set()

    assert await user_names(backend) == {"first", "second"}
    assert "other" in await backend.list_tenants()


async def test_closing_commits_what_finished_units_left(tmp_path: Path) -> None:
    path = tmp_path / "scim.sqlite3"
    backend = SqliteBackend(path)
    await backend.open()
    holder = Holder()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(holder.create, backend, "first")
        await wait_all_tasks_blocked()
        tasks.start_soon(create, backend, "second")
        tasks.start_soon(backend.close)
        await wait_all_tasks_blocked()
        holder.go.set()

    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT count(*) FROM resources").fetchone()
    assert rows == (2,)


async def test_cancelled_lone_write_does_not_fail_the_group_it_committed(
    backend: SqliteBackend,
) -> None:
    async with backend.transaction(TENANT) as tx:
        group = await tx.create(GROUP, {"displayName": "g"})
        member = await tx.create(USER, {"userName": "member"})
    release = asyncio.Event()

    async def create_ann() -> None:
        async with backend.transaction(TENANT) as tx:
            await tx.create(USER, {"userName": "ann"})
            await release.wait()

    creating = asyncio.create_task(create_ann())
    await asyncio.sleep(0.05)
    # Waits for the writer, so the create passes its changes on to it.
    changing = asyncio.create_task(
        backend.change_members(TENANT, group.id, add=[member.id])
    )
    await asyncio.sleep(0.01)
    release.set()
    queue = backend._queue
    seen_open = False
    for _ in range(100_000):
        await asyncio.sleep(0)
        seen_open = seen_open or queue.is_open
        if seen_open and not queue.is_open:
            break  # change_members took the group over; its hop is on its way
    assert seen_open
    changing.cancel()
    outcome, _ = await asyncio.gather(creating, changing, return_exceptions=True)
    page = await backend.query(TENANT, USER, Query())
    stored = sorted(r.document["userName"] for r in page.resources)
    # Either the create failed and ann is not stored, or it succeeded and is.
    assert (outcome is None) == ("ann" in stored), (outcome, stored)


async def test_queued_member_changes_share_commits_and_each_returns_committed(
    backend: SqliteBackend,
) -> None:
    async with backend.transaction(TENANT) as tx:
        group = await tx.create(GROUP, {"displayName": "g"})
        users = [await tx.create(USER, {"userName": f"u{i}"}) for i in range(20)]
    commits = await count_commits(backend)
    holder = Holder()
    outcomes: dict[str, object] = {}

    async def add(user_id: str) -> None:
        try:
            await backend.change_members(TENANT, group.id, add=[user_id])
        except MemberNotFoundError as exc:
            outcomes[user_id] = exc
            return
        # Another connection sees it: the change returned after its COMMIT.
        found = await backend.get(TENANT, GROUP, group.id, with_members=True)
        outcomes[user_id] = user_id in {m.id for m in found.members or []}

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(holder.create, backend, "first")
        await wait_all_tasks_blocked()
        for user in users[: 2 * GROUP_LIMIT]:
            tasks.start_soon(add, user.id)
        tasks.start_soon(add, "no-such-user")
        await wait_all_tasks_blocked()
        holder.go.set()

    assert isinstance(outcomes.pop("no-such-user"), MemberNotFoundError)
    assert outcomes == {user.id: True for user in users[: 2 * GROUP_LIMIT]}
    found = await backend.get(TENANT, GROUP, group.id, with_members=True)
    assert len(found.members or []) == 2 * GROUP_LIMIT
    assert found.version == 1 + 2 * GROUP_LIMIT
    assert 2 <= len(commits) < GROUP_LIMIT
