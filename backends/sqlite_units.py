"""Units of work on the SQLite writer, and the groups of them that one COMMIT ends.

A COMMIT writes every page the transaction changed to the WAL, and most of
a new user's pages (the table's last leaf, the indexes ordered by creation,
the outbox) are the same pages the next user changes. So while other units
wait for the writer, a unit that is done leaves its changes in the open
transaction, marked off by a savepoint, and the last unit of the group
commits them all at once (docs/benchmarks.md). A unit that fails rolls back
to its savepoint and leaves the others' changes alone. No unit returns
before the COMMIT that holds its changes, so a finished unit is a committed
one, as before.

`UnitQueue` holds the writer lock and decides, as each unit ends, whether
it commits or passes its changes on; the functions below it run on the
writer connection's thread.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast

from scim_gateway.backends.errors import BackendError, UnavailableError

__all__ = [
    "GROUP_LIMIT",
    "CommitGroup",
    "Runner",
    "Unit",
    "UnitEnd",
    "UnitQueue",
    "commit",
    "ending",
    "opening",
    "rollback",
    "whole_unit",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Units one COMMIT may hold: each waits for the last, so the cap bounds the
# latency a group adds, while most of the saving comes by eight.
GROUP_LIMIT = 8

_SAVEPOINT = "unit"

Step = Callable[[sqlite3.Connection], object]


class CommitGroup:
    """Finished units whose changes wait in the writer's open transaction."""

    def __init__(self) -> None:
        self.size = 0
        self.outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def settle(self, error: BaseException | None) -> None:
        if self.outcome.done():
            return
        if error is None:
            self.outcome.set_result(None)
        else:
            self.outcome.set_exception(error)


@dataclass(frozen=True)
class UnitEnd:
    """What the hop that ended a unit did: each error, and what is left open."""

    unit_error: Exception | None
    commit_error: Exception | None
    is_open: bool


class Unit(Protocol):
    """A unit of work as the queue ends it (`SqliteTransaction`)."""

    async def end(self, *, failed: bool, should_commit: bool) -> UnitEnd: ...


class Runner(Protocol):
    """The writer connection's thread (`sqlite._Worker`)."""

    async def run(self, function: Callable[[sqlite3.Connection], T]) -> T: ...


class UnitQueue:
    """The writer lock, the units waiting for it, and the group they leave open.

    Args:
        writer: the writer's runner, or None once the backend is closed.
        translate: the backend error for a driver error.
    """

    def __init__(
        self,
        writer: Callable[[], Runner | None],
        translate: Callable[[Exception], Exception],
    ) -> None:
        self._writer = writer
        self._translate = translate
        # aiosqlite runs on asyncio only; its lock is a tenth of anyio's cost.
        self._lock = asyncio.Lock()
        self._waiting = 0
        self._group: CommitGroup | None = None
        self._stalled: set[asyncio.Task[None]] = set()

    @property
    def is_open(self) -> bool:
        """Whether finished units left changes in the writer's transaction."""
        return self._group is not None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the writer lock, counted among its waiters until it is held."""
        self._waiting += 1
        try:
            await self._lock.acquire()
        except BaseException:
            self._waiting -= 1
            self._rescue_stalled_group()
            raise
        self._waiting -= 1
        try:
            yield
        finally:
            self._lock.release()

    async def end(self, unit: Unit, *, failed: bool) -> CommitGroup | None:
        """End a unit; returns the group whose COMMIT it must wait for, if any.

        Raises:
            BackendError: the unit's held-back writes, or the COMMIT, failed.
        """
        group = self._group
        passes = self._passes_on(group)
        try:
            step = asyncio.ensure_future(
                unit.end(failed=failed, should_commit=not passes)
            )
            end, cancelled = await _to_its_end(step)
        except BaseException as exc:
            # The hop itself failed: what is open is rolled back, and the
            # group fails with it.
            await self._abandon_group(exc)
            if failed:
                return None
            raise
        group = await self._settle(group, end, passed=passes, failed=failed)
        if cancelled is not None:
            raise cancelled
        if failed:
            if end.unit_error is not None:
                logger.warning("sqlite.rollback_failed error=%s", end.unit_error)
            return None
        for error in (end.unit_error, end.commit_error):
            if error is not None:
                raise self._translated(error)
        return group

    async def alone(
        self, writer: Runner, function: Callable[[sqlite3.Connection], T]
    ) -> tuple[T, CommitGroup | None]:
        """`function` as a unit of its own in one hop, and the group whose
        COMMIT it must wait for, if it passed its changes on as `end` does.

        Raises:
            BackendError: `function`, or the COMMIT, failed.
        """
        async with self.turn():
            group = self._group
            passes = self._passes_on(group)
            step = asyncio.ensure_future(
                writer.run(
                    whole_unit(
                        function, joins=group is not None, should_commit=not passes
                    )
                )
            )
            try:
                (result, end), cancelled = await _to_its_end(step)
            except BaseException as exc:
                await self._abandon_group(exc)
                raise
            group = await self._settle(group, end, passed=passes, failed=False)
        if cancelled is not None:
            raise cancelled
        for error in (end.unit_error, end.commit_error):
            if error is not None:
                raise self._translated(error)
        return cast(T, result), group

    async def commit_group(self) -> None:
        """Commit the changes units left for the next one; the lock is held."""
        group, self._group = self._group, None
        writer = self._writer()
        if group is None or writer is None:
            return
        step = asyncio.ensure_future(writer.run(commit))
        try:
            _, cancelled = await _to_its_end(step)
        except Exception as exc:
            group.settle(self._translated(exc))
            return
        group.settle(None)
        if cancelled is not None:
            raise cancelled

    async def _settle(
        self, group: CommitGroup | None, end: UnitEnd, *, passed: bool, failed: bool
    ) -> CommitGroup | None:
        """Close or grow the open group after a unit's last hop; the lock is held.

        Returns the group the unit now belongs to, whose COMMIT it waits for.
        """
        if not passed or not end.is_open:
            self._group = None
            if group is not None:
                group.settle(self._group_error(end, passed=passed))
            group = None
        elif end.unit_error is None and not failed:
            if group is None:
                group = self._group = CommitGroup()
            group.size += 1
        else:
            group = None
        if self._group is not None and self._waiting == 0:
            # The waiter this unit counted on was cancelled during the hop.
            await self.commit_group()
        return group

    def _passes_on(self, group: CommitGroup | None) -> bool:
        """Whether a finished unit leaves its changes to the next unit's COMMIT."""
        size = 0 if group is None else group.size
        return self._waiting > 0 and size + 1 < GROUP_LIMIT

    async def _abandon_group(self, exc: BaseException) -> None:
        group, self._group = self._group, None
        # Its units learn it first: a cancellation may cut the rollback short.
        if group is not None:
            group.settle(
                UnavailableError(f"SQLite commit failed: {type(exc).__name__}")
            )
        writer = self._writer()
        try:
            if writer is not None:
                await writer.run(rollback)
        except BackendError as error:
            logger.warning("sqlite.rollback_failed error=%s", error)

    def _rescue_stalled_group(self) -> None:
        # A unit passed its changes on to a waiter that was then cancelled:
        # with nobody else coming, a task of its own commits them.
        if self._group is None or self._waiting > 0 or self._lock.locked():
            return
        task = asyncio.get_running_loop().create_task(self._commit_stalled())
        self._stalled.add(task)
        task.add_done_callback(self._stalled.discard)

    async def _commit_stalled(self) -> None:
        async with self.turn():
            await self.commit_group()

    def _translated(self, error: Exception) -> Exception:
        if isinstance(error, sqlite3.Error | ValueError):
            return self._translate(error)
        return error

    def _group_error(self, end: UnitEnd, *, passed: bool) -> Exception | None:
        """What the units of a group learn of the hop that was to commit them.

        A hop that passed the group on but left no transaction open lost it.
        """
        if end.commit_error is not None:
            return self._translated(end.commit_error)
        if passed or end.is_open:
            return UnavailableError("SQLite rolled back the changes of finished units")
        return None


async def _to_its_end(
    step: asyncio.Future[T],
) -> tuple[T, asyncio.CancelledError | None]:
    """The result of a step handed to the writer's thread, and the
    cancellation the caller received while it ran, if any.

    aiosqlite runs a step it was handed to its end whatever becomes of the
    caller, and that end (a COMMIT of other units' changes) is what those
    units must learn. A cancelled caller therefore still waits for it, and
    raises its cancellation once the group is settled: that very exception,
    whose message tells anyio's cancel scopes that it is theirs.
    """
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            return await asyncio.shield(step), cancelled
        except asyncio.CancelledError as exc:
            if step.cancelled():
                raise
            cancelled = exc
            if step.done():
                return step.result(), cancelled


def opening(
    *, begin: bool, joins: bool, function: Callable[[sqlite3.Connection], T]
) -> Callable[[sqlite3.Connection], T]:
    """`function` as a unit's first call: a new transaction, or a savepoint in one."""
    if not begin:
        return function

    def run(connection: sqlite3.Connection) -> T:
        _open(connection, joins=joins)
        return function(connection)

    return run


def ending(
    pending: Sequence[Step],
    *,
    has_begun: bool,
    joins: bool,
    failed: bool,
    should_commit: bool,
) -> Callable[[sqlite3.Connection], UnitEnd]:
    """The hop that ends a unit: its held-back writes, then its savepoint or all.

    A unit that `failed` (or whose held-back writes fail here) is undone; one
    that `joins` others undoes only its own part. `should_commit` then commits
    what is left, for the whole group.
    """

    def run(connection: sqlite3.Connection) -> UnitEnd:
        opened = has_begun
        unit_error: Exception | None = None
        try:
            if failed:
                _undo(connection, joins=joins, opened=opened)
            elif opened or pending:
                if not opened:
                    opened = True
                    _open(connection, joins=joins)
                for step in pending:
                    step(connection)
                if joins:
                    connection.execute(f"RELEASE {_SAVEPOINT}")
        except Exception as exc:
            unit_error = exc
            _undo(connection, joins=joins, opened=opened)
        commit_error: Exception | None = None
        if should_commit:
            commit_error = _commit_all(connection, joins=joins, unit_error=unit_error)
        return UnitEnd(unit_error, commit_error, connection.in_transaction)

    return run


def _open(connection: sqlite3.Connection, *, joins: bool) -> None:
    if joins:
        connection.execute(f"SAVEPOINT {_SAVEPOINT}")
    else:
        connection.execute("BEGIN IMMEDIATE")


def _undo(connection: sqlite3.Connection, *, joins: bool, opened: bool) -> None:
    if not opened or not connection.in_transaction:
        return
    if not joins:
        connection.execute("ROLLBACK")
        return
    try:
        connection.execute(f"ROLLBACK TO {_SAVEPOINT}")
        connection.execute(f"RELEASE {_SAVEPOINT}")
    except sqlite3.OperationalError:
        # No savepoint: the unit failed on its SAVEPOINT statement itself.
        pass


def _commit_all(
    connection: sqlite3.Connection, *, joins: bool, unit_error: Exception | None
) -> Exception | None:
    """COMMIT the open transaction for every unit in it; the error they learn.

    Some errors (SQLITE_FULL on a table without a statement journal) roll
    back the whole transaction, not just the failing unit's savepoint: the
    units before it then lost their changes, and learn that unit's error.
    """
    if joins and not connection.in_transaction:
        return unit_error or UnavailableError(
            "SQLite rolled back the changes of finished units"
        )
    try:
        commit(connection)
    except Exception as exc:
        return exc
    return None


def commit(connection: sqlite3.Connection) -> None:
    if not connection.in_transaction:
        return
    try:
        connection.execute("COMMIT")
    except sqlite3.Error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        connection.execute("ROLLBACK")


def whole_unit(
    function: Callable[[sqlite3.Connection], T], *, joins: bool, should_commit: bool
) -> Callable[[sqlite3.Connection], tuple[T | None, UnitEnd]]:
    """A whole unit in one hop; `should_commit` commits it with the group it joins."""

    def run(connection: sqlite3.Connection) -> tuple[T | None, UnitEnd]:
        result: T | None = None
        unit_error: Exception | None = None
        _open(connection, joins=joins)
        try:
            result = function(connection)
            if joins:
                connection.execute(f"RELEASE {_SAVEPOINT}")
        except Exception as exc:
            unit_error = exc
            _undo(connection, joins=joins, opened=True)
        commit_error: Exception | None = None
        if should_commit:
            commit_error = _commit_all(connection, joins=joins, unit_error=unit_error)
        return result, UnitEnd(unit_error, commit_error, connection.in_transaction)

    return run
