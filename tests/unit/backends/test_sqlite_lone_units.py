"""Units of one call (`SqliteBackend._write`) in commit groups: failures and cancels."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from scim_gateway.backends.base import GROUP, USER, Query
from scim_gateway.backends.errors import (
    BackendError,
    MemberNotFoundError,
    UnavailableError,
    VersionMismatchError,
)
from scim_gateway.backends.sqlite import SqliteBackend

TENANT = "acme"


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[SqliteBackend]:
    opened = SqliteBackend(tmp_path / "scim.sqlite3", checkpoint_interval=0)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


class Gate:
    """A unit that holds the writer lock, writing nothing, until released."""

    def __init__(self) -> None:
        self.go = anyio.Event()

    async def hold(self, backend: SqliteBackend, user_name: str | None = None) -> None:
        async with backend.transaction(TENANT) as tx:
            if user_name is not None:
                await tx.create(USER, {"userName": user_name})
            await self.go.wait()


async def user_names(backend: SqliteBackend) -> set[str]:
    page = await backend.query(TENANT, USER, Query(count=1000))
    return {r.document["userName"] for r in page.resources}


async def members_of(backend: SqliteBackend, group_id: str) -> set[str]:
    found = await backend.get(TENANT, GROUP, group_id, with_members=True)
    return {m.id for m in found.members or []}


async def group_and_users(backend: SqliteBackend, n: int) -> tuple[str, list[str]]:
    async with backend.transaction(TENANT) as tx:
        group = await tx.create(GROUP, {"displayName": "g"})
        users = [await tx.create(USER, {"userName": f"u{i}"}) for i in range(n)]
    return group.id, [u.id for u in users]


def tenants_in(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT id FROM tenants")}


def slow_tenant(name: str, seconds: float) -> Callable[[sqlite3.Connection], bool]:
    def run(connection: sqlite3.Connection) -> bool:
        connection.execute(
            "INSERT INTO tenants (id, created) VALUES (?, '2020-01-01T00:00:00Z')",
            (name,),
        )
        time.sleep(seconds)
        return True

    return run


async def fill_the_disk(backend: SqliteBackend) -> None:
    """No page more: SQLite's own page limit, as tests/faults/test_storage.py
    sets it. A single-row INSERT that needs a page then fails with SQLITE_FULL
    and SQLite rolls back the whole transaction, not only the statement."""
    writer = backend._writer
    assert writer is not None
    await writer.run(
        lambda c: c.execute(
            f"PRAGMA max_page_count = {c.execute('PRAGMA page_count').fetchone()[0]}"
        )
    )


async def free_the_disk(backend: SqliteBackend) -> None:
    writer = backend._writer
    assert writer is not None
    await writer.run(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))


async def outcome_of(outcomes: dict[str, object], name: str, call: Any) -> None:
    try:
        await call()
        outcomes[name] = "returned"
    except BackendError as exc:
        outcomes[name] = exc


async def behind_a_full_disk(
    backend: SqliteBackend, first: Callable[[], Any]
) -> dict[str, object]:
    """`first`, then a tenant created while the disk is full, queued behind
    a held writer so that they share a group; what became of each."""
    await fill_the_disk(backend)
    gate = Gate()
    outcomes: dict[str, object] = {}

    def big_tenant() -> Any:
        return backend.create_tenant("t" + "x" * 3000)

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(gate.hold, backend)
                await wait_all_tasks_blocked()
                tasks.start_soon(outcome_of, outcomes, "first", first)
                await wait_all_tasks_blocked()
                tasks.start_soon(outcome_of, outcomes, "tenant", big_tenant)
                await wait_all_tasks_blocked()
                gate.go.set()
    finally:
        await free_the_disk(backend)
    assert isinstance(outcomes["tenant"], UnavailableError), outcomes
    return outcomes


async def test_a_lone_write_never_returns_without_its_changes_committed(
    backend: SqliteBackend,
) -> None:
    """A member add passes its change on to the next unit, a tenant created
    while the disk is full, which rolls the whole transaction back: the add
    returns only if its member is stored."""
    group_id, (member,) = await group_and_users(backend, 1)

    def add() -> Any:
        return backend.change_members(TENANT, group_id, add=[member])

    outcomes = await behind_a_full_disk(backend, add)

    stored = member in await members_of(backend, group_id)
    assert (outcomes["first"] == "returned") == stored, (outcomes, stored)


async def test_units_a_full_disk_rolled_back_are_not_told_committed(
    backend: SqliteBackend,
) -> None:
    """A full disk rolls back the whole transaction: a transaction unit whose
    change the group lost is told so, not that it was committed."""

    async def create_second() -> None:
        async with backend.transaction(TENANT) as tx:
            await tx.create(USER, {"userName": "second"})

    outcomes = await behind_a_full_disk(backend, create_second)

    stored = "second" in await user_names(backend)
    assert (outcomes["first"] == "returned") == stored, (outcomes, stored)


async def test_a_cancelled_lone_write_whose_hop_fails_leaves_no_one_hanging(
    backend: SqliteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lone write joins an open group and its hop fails (the writer's `run`
    raises after the step, as a lost connection would) while its caller's
    cancel scope is cancelled: the group's units learn the failure instead
    of waiting for ever."""
    gate = Gate()
    writer = backend._writer
    assert writer is not None
    real_run = writer.run
    scope = anyio.CancelScope()

    async def failing_run(function):  # type: ignore[no-untyped-def]
        if getattr(function, "__qualname__", "").startswith("whole_unit"):
            await real_run(lambda c: time.sleep(0.2))
            raise UnavailableError("SQLite connection is closed")
        return await real_run(function)

    async def create_second() -> None:
        async with backend.transaction(TENANT) as tx:
            await tx.create(USER, {"userName": "second"})

    async def lone() -> None:
        with scope:
            await backend.create_tenant("other")

    monkeypatch.setattr(writer, "run", failing_run)
    holding = asyncio.ensure_future(gate.hold(backend))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(create_second())
    await asyncio.sleep(0.05)
    lone_task = asyncio.ensure_future(lone())
    await asyncio.sleep(0.05)
    gate.go.set()
    await asyncio.sleep(0.1)  # the lone write's hop is under way
    scope.cancel()
    done, pending = await asyncio.wait({holding, second, lone_task}, timeout=3)
    for task in pending:
        task.cancel()  # a plain cancel reaches the shielded wait, to clean up
    if pending:
        await asyncio.wait(pending, timeout=3)
    assert second in done, "create_second still waits for its group's outcome"
    assert isinstance(second.exception(), UnavailableError)


async def test_a_deadline_during_a_lone_writes_hop_stays_inside_its_scope(
    backend: SqliteBackend,
) -> None:
    """A cancellation that reaches a lone write during its hop is raised as
    anyio sent it: a `move_on_after` around the write ends there, and the
    task goes on."""
    reached: list[str] = []

    async def caller() -> None:
        with anyio.move_on_after(0.05):
            await backend._write(slow_tenant("slow", 0.3))
        reached.append("after the scope")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(caller)
    assert reached == ["after the scope"]
    assert "slow" in await backend.list_tenants()


async def test_lone_writes_interleaved_with_transactions_return_committed(
    backend: SqliteBackend,
) -> None:
    group_id, users = await group_and_users(backend, 12)
    gate = Gate()
    outcomes: dict[str, object] = {}

    async def add(user_id: str) -> None:
        try:
            await backend.change_members(TENANT, group_id, add=[user_id])
        except BackendError as exc:
            outcomes[user_id] = exc
            return
        outcomes[user_id] = user_id in await members_of(backend, group_id)

    async def create(name: str) -> None:
        async with backend.transaction(TENANT) as tx:
            await tx.create(USER, {"userName": name})
        outcomes[name] = name in await user_names(backend)

    async def tenant(name: str) -> None:
        await backend.create_tenant(name)
        outcomes[name] = name in await backend.list_tenants()

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(gate.hold, backend, "first")
            await wait_all_tasks_blocked()
            for i, user in enumerate(users):
                tasks.start_soon(add, user)
                tasks.start_soon(create, f"new{i}")
                if i % 3 == 0:
                    tasks.start_soon(add, f"missing{i}")
                    tasks.start_soon(tenant, f"t{i}")
            await wait_all_tasks_blocked()
            gate.go.set()

    for key, value in outcomes.items():
        if key.startswith("missing"):
            assert isinstance(value, MemberNotFoundError), (key, value)
        else:
            assert value is True, (key, value)
    assert await members_of(backend, group_id) == set(users)
    assert {f"new{i}" for i in range(12)} | {"first"} <= await user_names(backend)


async def test_a_failing_lone_write_that_ends_the_group_keeps_the_others(
    backend: SqliteBackend,
) -> None:
    group_id, (member,) = await group_and_users(backend, 1)
    gate = Gate()
    caught: list[BaseException] = []

    async def stale_add() -> None:
        try:
            await backend.change_members(
                TENANT, group_id, add=[member], expected_version=99
            )
        except VersionMismatchError as exc:
            caught.append(exc)

    async def create(name: str) -> None:
        async with backend.transaction(TENANT) as tx:
            await tx.create(USER, {"userName": name})

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(gate.hold, backend, "first")
            await wait_all_tasks_blocked()
            tasks.start_soon(create, "second")
            await wait_all_tasks_blocked()
            tasks.start_soon(stale_add)  # the last: it commits the group
            await wait_all_tasks_blocked()
            gate.go.set()

    assert len(caught) == 1
    assert {"first", "second"} <= await user_names(backend)
    assert await members_of(backend, group_id) == set()


async def test_a_failing_commit_reaches_every_lone_write_of_the_group(
    backend: SqliteBackend,
) -> None:
    group_id, (member,) = await group_and_users(backend, 1)
    gate = Gate()
    outcomes: dict[str, object] = {}

    def violate(c: sqlite3.Connection) -> None:
        # A deferred foreign key: the unit passes, the group's COMMIT fails.
        c.execute("PRAGMA defer_foreign_keys = ON")
        c.execute(
            "INSERT INTO memberships (tenant, group_id, member_id, member_type)"
            " VALUES (?, ?, 'nobody', 'User')",
            (TENANT, group_id),
        )

    async def run(name: str, call: Callable[[], object]) -> None:
        try:
            await call()  # type: ignore[misc]
            outcomes[name] = "returned"
        except Exception as exc:
            outcomes[name] = exc

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(run, "first", lambda: gate.hold(backend, "first"))
            await wait_all_tasks_blocked()
            tasks.start_soon(
                run,
                "add",
                lambda: backend.change_members(TENANT, group_id, add=[member]),
            )
            await wait_all_tasks_blocked()
            tasks.start_soon(run, "tenant", lambda: backend.create_tenant("t1"))
            await wait_all_tasks_blocked()
            tasks.start_soon(run, "violate", lambda: backend._write(violate))
            await wait_all_tasks_blocked()
            gate.go.set()

    assert all(isinstance(v, Exception) for v in outcomes.values()), outcomes
    assert "first" not in await user_names(backend)
    assert await members_of(backend, group_id) == set()
    assert "t1" not in await backend.list_tenants()


async def test_a_lone_write_cancelled_after_the_hand_over_commits_nothing_twice(
    backend: SqliteBackend,
) -> None:
    """Cancelled while waiting for the lock: the unit before it counted on it."""
    gate = Gate()
    scope = anyio.CancelScope()

    async def lone() -> None:
        with scope:
            await backend.create_tenant("cancelled")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(gate.hold, backend, "first")
            await wait_all_tasks_blocked()
            tasks.start_soon(lone)
            await wait_all_tasks_blocked()
            gate.go.set()
            scope.cancel()

    assert await user_names(backend) == {"first"}


@pytest.mark.parametrize("later", [True, False])
async def test_a_lone_write_cancelled_during_its_hop_is_whole(
    backend: SqliteBackend, tmp_path: Path, later: bool
) -> None:
    gate = Gate()
    scope = anyio.CancelScope()
    done: list[str] = []

    async def lone() -> None:
        try:
            with scope:
                await backend._write(slow_tenant("slow", 0.2))
            done.append("lone")
        except asyncio.CancelledError:
            # The bare CancelledError anyio does not take for its own (see
            # test_a_deadline_during_a_lone_writes_hop_stays_inside_its_scope).
            done.append("lone")

    async def create_after() -> None:
        async with backend.transaction(TENANT) as tx:
            await tx.create(USER, {"userName": "after"})
        done.append("after")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(gate.hold, backend, "first")
            await wait_all_tasks_blocked()
            tasks.start_soon(lone)
            await wait_all_tasks_blocked()
            if later:
                tasks.start_soon(create_after)
                await wait_all_tasks_blocked()
            gate.go.set()
            await anyio.sleep(0.1)
            scope.cancel()

    assert "lone" in done
    # Whole: the slow write is either all there (with what it held) or not.
    assert "slow" in tenants_in(tmp_path / "scim.sqlite3")
    assert "first" in await user_names(backend)
    assert ("after" in await user_names(backend)) == later


async def test_a_lone_write_cancelled_while_awaiting_its_commit_cancels_no_other(
    backend: SqliteBackend, tmp_path: Path
) -> None:
    """A plain asyncio cancel (asyncio.timeout, wait_for, a host's
    task.cancel()) of one unit waiting for its group's COMMIT cancels no
    other unit of the group."""
    gate = Gate()
    go_on = asyncio.Event()
    outcomes: dict[str, object] = {}

    async def first() -> None:
        try:
            await gate.hold(backend, "first")
            outcomes["first"] = "returned"
        except asyncio.CancelledError:
            outcomes["first"] = "cancelled"

    async def lone() -> None:
        try:
            await backend.create_tenant("passed-on")
            outcomes["lone"] = "returned"
        except asyncio.CancelledError:
            outcomes["lone"] = "cancelled"

    async def next_unit() -> None:
        async with backend.transaction(TENANT) as tx:
            await go_on.wait()
            await tx.create(USER, {"userName": "next"})
        outcomes["next"] = "returned"

    tasks = [asyncio.ensure_future(first())]
    try:
        await asyncio.sleep(0.05)
        tasks.append(asyncio.ensure_future(lone()))
        await asyncio.sleep(0.05)
        tasks.append(asyncio.ensure_future(next_unit()))
        await asyncio.sleep(0.05)
        gate.go.set()
        await asyncio.sleep(0.1)  # first and the lone write passed on; both wait
        assert backend._queue.is_open
        assert "lone" not in outcomes
        tasks[1].cancel()  # only the lone write is cancelled
        await asyncio.sleep(0.05)
    finally:
        gate.go.set()
        go_on.set()
        _, pending = await asyncio.wait(tasks, timeout=3)
    assert not pending

    assert outcomes["lone"] == "cancelled"
    assert "passed-on" in tenants_in(tmp_path / "scim.sqlite3")
    assert {"first", "next"} <= await user_names(backend)
    assert outcomes["first"] == "returned", outcomes


async def test_closing_commits_lone_writes_and_later_ones_fail(
    tmp_path: Path,
) -> None:
    path = tmp_path / "scim.sqlite3"
    backend = SqliteBackend(path, checkpoint_interval=0)
    await backend.open()
    gate = Gate()
    outcomes: dict[str, object] = {}

    async def tenant(name: str) -> None:
        try:
            await backend.create_tenant(name)
            outcomes[name] = "returned"
        except UnavailableError as exc:
            outcomes[name] = exc

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(gate.hold, backend, "first")
            await wait_all_tasks_blocked()
            tasks.start_soon(tenant, "before1")
            await wait_all_tasks_blocked()
            tasks.start_soon(tenant, "before2")
            await wait_all_tasks_blocked()
            tasks.start_soon(backend.close)
            await wait_all_tasks_blocked()
            tasks.start_soon(tenant, "after1")
            tasks.start_soon(tenant, "after2")
            await wait_all_tasks_blocked()
            gate.go.set()

    assert outcomes["before1"] == outcomes["before2"] == "returned"
    assert isinstance(outcomes["after1"], UnavailableError)
    assert isinstance(outcomes["after2"], UnavailableError)
    assert {"before1", "before2"} <= tenants_in(path)
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT count(*) FROM resources").fetchone()
    assert rows == (1,)
