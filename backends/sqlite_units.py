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

The functions here run on the writer connection's thread; `SqliteBackend`
and `SqliteTransaction` decide what each hop does.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "alone",
    "GROUP_LIMIT",
    "CommitGroup",
    "UnitEnd",
    "commit",
    "ending",
    "opening",
    "rollback",
]

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
            try:
                commit(connection)
            except Exception as exc:
                commit_error = exc
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


def alone(
    function: Callable[[sqlite3.Connection], T], *, joins: bool
) -> Callable[[sqlite3.Connection], tuple[T | None, UnitEnd]]:
    """A whole unit in one hop, committed with the group it joins."""

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
        try:
            commit(connection)
        except Exception as exc:
            commit_error = exc
        return result, UnitEnd(unit_error, commit_error, connection.in_transaction)

    return run
