"""The SQLite backend: one database file, a writer connection and a few readers.

Writes are serialised on one connection behind an asyncio lock, units of
work in `BEGIN IMMEDIATE` transactions that several queued units may share
(`sqlite_units`); reads run on separate connections, which WAL mode lets
proceed beside the writer. Each operation
is one function run on the connection's aiosqlite thread, so it costs one
hop from the event loop however many statements it takes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar, cast

import aiosqlite
import anyio

from scim_gateway.backends import sqlite_credentials as credentials
from scim_gateway.backends import sqlite_invitations as invitations
from scim_gateway.backends import sqlite_units as units
from scim_gateway.backends import sqlite_writes as writes
from scim_gateway.backends.base import (
    Backend,
    Page,
    Query,
    StoredResource,
    Transaction,
)
from scim_gateway.backends.credentials import CredentialStore, TokenRecord
from scim_gateway.backends.errors import (
    BackendError,
    ConflictError,
    NotFoundError,
    Outage,
    UnavailableError,
)
from scim_gateway.backends.invitations import (
    InvitationRecord,
    InvitationState,
    OutboxEntry,
    OutboxMessage,
    check_tenant,
)
from scim_gateway.backends.sqlite_checkpoints import CHECKPOINT_INTERVAL, Checkpointer
from scim_gateway.backends.sqlite_pages import PageCache
from scim_gateway.backends.sqlite_query import (
    fetch_page,
    fetch_resource,
)
from scim_gateway.backends.sqlite_schema import apply_migrations, configure, enable_wal

__all__ = ["SqliteBackend", "SqliteTransaction"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Messages of errors that say the database, not the statement, is in trouble.
_UNAVAILABLE = (
    "locked",
    "busy",
    "disk i/o",
    "readonly",
    "read-only",
    "full",
    "unable to open",
    "not a database",
    "malformed",
    "closed",
    "interrupted",
)

_UNIQUE_ATTRIBUTES = {
    "user_name_folded": "userName",
    "display_name_folded": "displayName",
}


def translate(exc: Exception) -> Exception:
    """The backend error for a driver error; the error itself when it is a bug."""
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in message:
        for column, attribute in _UNIQUE_ATTRIBUTES.items():
            if column in message:
                return ConflictError(attribute)
        return ConflictError("id")
    if isinstance(exc, ValueError):
        # aiosqlite's words for a connection closed under the call.
        is_closed = message in ("Connection closed", "no active connection")
        return UnavailableError("SQLite connection is closed") if is_closed else exc
    lowered = message.lower()
    if isinstance(exc, sqlite3.DatabaseError | sqlite3.ProgrammingError):
        if any(word in lowered for word in _UNAVAILABLE):
            return UnavailableError(
                f"SQLite database unavailable: {message}", outage=_outage(lowered)
            )
    return exc


def _outage(message: str) -> Outage:
    # SQLITE_FULL says "database or disk is full"; SQLITE_READONLY says
    # "attempt to write a readonly database".
    if "full" in message:
        return Outage.FULL
    if "readonly" in message or "read-only" in message:
        return Outage.READ_ONLY
    return Outage.UNREACHABLE


def _is_writable(path: str) -> bool:
    folder = os.path.dirname(os.path.abspath(path))
    return os.access(folder, os.W_OK) and (
        not os.path.exists(path) or os.access(path, os.W_OK)
    )


class _Worker:
    """One aiosqlite connection; runs a whole function on its thread per call."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection
        self.pages = PageCache()

    async def run(self, function: Callable[[sqlite3.Connection], T]) -> T:
        # aiosqlite runs every call on the connection's own thread; `_execute`
        # is its only way to run several statements there in one hop.
        execute = cast(
            Callable[..., Awaitable[T]],
            self.connection._execute,
        )
        try:
            return await execute(lambda: function(self.connection._conn))
        except (sqlite3.Error, ValueError) as exc:
            translated = translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    async def close(self) -> None:
        try:
            await self.connection.close()
        except sqlite3.Error as exc:
            logger.warning("sqlite.close_failed error=%s", exc)


async def _committed(group: units.CommitGroup) -> None:
    """Wait for the COMMIT of a unit's group; the group's error if it failed.

    The outcome is every unit's of the group: shielded, so that cancelling
    this caller (an anyio scope, or a plain `Task.cancel`) cancels none of
    the others' waits.
    """
    with anyio.CancelScope(shield=True):
        await asyncio.shield(group.outcome)


def _after(
    pending: list[Callable[[sqlite3.Connection], object]],
    function: Callable[[sqlite3.Connection], T],
) -> Callable[[sqlite3.Connection], T]:
    def run(connection: sqlite3.Connection) -> T:
        for earlier in pending:
            earlier(connection)
        return function(connection)

    return run


class SqliteTransaction(Transaction):
    """A unit of work on the writer; it opens the transaction on its first call.

    Writes that return nothing (member changes, the invitation and its
    outbox message) wait for the next call or the end of the unit and ride
    on it, so a new user and its invitation cost two hops to the writer's
    thread, and a member added to a group two. The writer is locked for the
    whole unit, so each hop saved is time every other writer gets back. A
    deferred write that fails (an unknown member) raises from the call it
    rode on, and the unit fails as a whole.

    A unit that `joins` the changes of earlier units still to be committed
    (`sqlite_units`) opens a savepoint instead of a transaction.
    """

    def __init__(self, worker: _Worker, tenant: str, *, joins: bool = False) -> None:
        self.tenant = tenant
        self.joins = joins
        self._worker = worker
        self._has_begun = False
        self._pending: list[Callable[[sqlite3.Connection], object]] = []

    async def _run(self, function: Callable[[sqlite3.Connection], T]) -> T:
        begin = not self._has_begun
        self._has_begun = True
        pending, self._pending = self._pending, []
        if pending:
            function = _after(pending, function)
        return await self._worker.run(
            units.opening(begin=begin, joins=self.joins, function=function)
        )

    def _defer(self, function: Callable[[sqlite3.Connection], object]) -> None:
        self._pending.append(function)

    async def end(self, *, failed: bool, should_commit: bool) -> units.UnitEnd:
        """Write or undo the unit in one hop; commit the group if asked."""
        pending, self._pending = self._pending, []
        if failed:
            pending = []
        if not (self._has_begun or pending or (should_commit and self.joins)):
            return units.UnitEnd(None, None, self.joins)
        return await self._worker.run(
            units.ending(
                pending,
                has_begun=self._has_begun,
                joins=self.joins,
                failed=failed,
                should_commit=should_commit,
            )
        )

    async def get(
        self,
        resource_type: str,
        resource_id: str,
        *,
        with_members: bool = False,
        with_groups: bool = False,
    ) -> StoredResource:
        found = await self._run(
            lambda c: fetch_resource(
                c,
                self.tenant,
                resource_type,
                resource_id,
                with_members=with_members,
                with_groups=with_groups,
            )
        )
        if found is None:
            raise NotFoundError(resource_type, resource_id)
        return found

    async def create(
        self,
        resource_type: str,
        document: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> StoredResource:
        stored, insert = writes.prepare_insert(
            self.tenant, resource_type, document, resource_id
        )
        await self._run(insert)
        return stored

    async def replace(
        self,
        resource_type: str,
        resource_id: str,
        document: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> StoredResource:
        return await self._run(
            lambda c: writes.update_resource(
                c, self.tenant, resource_type, resource_id, document, expected_version
            )
        )

    async def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> None:
        await self._run(
            lambda c: writes.delete_resource(
                c, self.tenant, resource_type, resource_id, expected_version
            )
        )

    async def add_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        ids = list(member_ids)
        self._defer(lambda c: writes.add_members(c, self.tenant, group_id, ids))

    async def remove_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        ids = list(member_ids)
        self._defer(lambda c: writes.remove_members(c, self.tenant, group_id, ids))

    async def replace_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        ids = list(member_ids)
        self._defer(lambda c: writes.replace_members(c, self.tenant, group_id, ids))

    async def get_invitation(self, user_id: str) -> InvitationRecord | None:
        return await self._run(
            lambda c: invitations.get_invitation(c, self.tenant, user_id)
        )

    async def put_invitation(self, record: InvitationRecord) -> None:
        check_tenant(record, self.tenant)
        self._defer(lambda c: invitations.put_invitation(c, record))

    async def enqueue(self, message: OutboxMessage) -> None:
        self._defer(lambda c: invitations.enqueue(c, self.tenant, message))


class SqliteBackend(Backend, CredentialStore):
    """Resources of every tenant in one SQLite file (WAL mode).

    Args:
        path: the database file, created when missing, or a `file:` URI
            (such as `file:/srv/scim.sqlite3?mode=ro`).
        readers: how many connections serve reads.
        busy_timeout: seconds a statement waits for another process's lock
            before the call fails with `UnavailableError`.
        checkpoint_interval: seconds between checkpoints of the WAL, run on a
            connection of their own (`sqlite_checkpoints`); 0 leaves them to
            the writer's commits, every 10,000 pages.
    """

    name = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        readers: int = 2,
        busy_timeout: float = 5.0,
        checkpoint_interval: float = CHECKPOINT_INTERVAL,
    ) -> None:
        database = os.fspath(path)
        if database == ":memory:" or database == "":
            raise ValueError(
                "SqliteBackend needs a database file; use MemoryBackend for no file"
            )
        self.path = database
        self._is_uri = database.startswith("file:")
        self._reader_count = max(readers, 1)
        self._busy_timeout = busy_timeout
        self._writer: _Worker | None = None
        self._readers: list[_Worker] = []
        self._next_reader = 0
        self._queue = units.UnitQueue(self._writer_or_none, translate)
        self._checkpoint_interval = checkpoint_interval
        self._checkpoints: _Worker | None = None
        self._checkpointer: Checkpointer | None = None

    async def open(self) -> None:
        if self._writer is not None:
            return
        await anyio.to_thread.run_sync(self._probe)
        workers: list[_Worker] = []
        try:
            writer = await self._connect(workers)
            applied = await writer.run(self._prepare_writer)
            for _ in range(self._reader_count):
                reader = await self._connect(workers)
                await reader.run(self._prepare_reader)
            if self._checkpoint_interval > 0:
                checkpoints = await self._connect(workers)
                await checkpoints.run(self._prepare_checkpoints)
        except BaseException:
            for worker in workers:
                await worker.close()
            raise
        if self._checkpoint_interval > 0:
            self._checkpoints = workers.pop()
            self._checkpointer = Checkpointer(
                self._checkpoints.run, interval=self._checkpoint_interval
            )
            self._checkpointer.start()
        self._writer, self._readers = workers[0], workers[1:]
        logger.info("sqlite.open path=%s migrations_applied=%s", self.path, applied)

    async def close(self) -> None:
        async with self._queue.turn():
            if self._writer is None:
                return
            await self._queue.commit_group()
            writer, readers = self._writer, self._readers
            self._writer, self._readers = None, []
            if self._checkpointer is not None:
                await self._checkpointer.stop()
            checkpoints, self._checkpoints = self._checkpoints, None
            await self._optimize(writer)
            for worker in [writer, *readers, *filter(None, [checkpoints])]:
                await worker.close()
        logger.info("sqlite.close path=%s", self.path)

    async def ping(self) -> None:
        await self._reader().run(lambda c: c.execute("SELECT 1").fetchone())

    def transaction(self, tenant: str) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction(tenant)

    @asynccontextmanager
    async def _transaction(self, tenant: str) -> AsyncIterator[Transaction]:
        writer = self._require(self._writer)
        queue = self._queue
        async with queue.turn():
            transaction = SqliteTransaction(writer, tenant, joins=queue.is_open)
            try:
                yield transaction
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await queue.end(transaction, failed=True)
                raise
            with anyio.CancelScope(shield=True):
                group = await queue.end(transaction, failed=False)
        if group is not None:
            await _committed(group)

    def _writer_or_none(self) -> _Worker | None:
        return self._writer

    async def get(
        self,
        tenant: str,
        resource_type: str,
        resource_id: str,
        *,
        with_members: bool = False,
        with_groups: bool = False,
    ) -> StoredResource:
        found = await self._reader().run(
            lambda c: fetch_resource(
                c,
                tenant,
                resource_type,
                resource_id,
                with_members=with_members,
                with_groups=with_groups,
            )
        )
        if found is None:
            raise NotFoundError(resource_type, resource_id)
        return found

    async def create(
        self,
        tenant: str,
        resource_type: str,
        document: dict[str, Any],
        *,
        resource_id: str | None = None,
        invitation: InvitationRecord | None = None,
        message: OutboxMessage | None = None,
    ) -> StoredResource:
        # The whole unit in one hop to the writer instead of two.
        stored, insert = writes.prepare_insert(
            tenant, resource_type, document, resource_id
        )
        if invitation is not None:
            check_tenant(invitation, tenant)

        def write(connection: sqlite3.Connection) -> None:
            insert(connection)
            if invitation is not None:
                invitations.put_invitation(connection, invitation)
            if message is not None:
                invitations.enqueue(connection, tenant, message)

        await self._write(write)
        return stored

    async def change_members(
        self,
        tenant: str,
        group_id: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        expected_version: int | None = None,
    ) -> StoredResource:
        # The whole unit in one hop to the writer instead of two.
        adding, removing = list(add), list(remove)
        return await self._write(
            lambda c: writes.change_members(
                c, tenant, group_id, adding, removing, expected_version
            )
        )

    async def query(self, tenant: str, resource_type: str, query: Query) -> Page:
        reader = self._reader()
        return await reader.run(
            lambda c: fetch_page(c, tenant, resource_type, query, cache=reader.pages)
        )

    async def list_tokens(self, tenant: str | None = None) -> list[TokenRecord]:
        return await self._reader().run(lambda c: credentials.list_tokens(c, tenant))

    async def add_token(
        self, tenant: str, digest: str, *, label: str = ""
    ) -> TokenRecord:
        return await self._write(
            lambda c: credentials.add_token(c, tenant, digest, label)
        )

    async def revoke_token(self, token_id: str) -> bool:
        return await self._write(lambda c: credentials.revoke_token(c, token_id))

    async def list_tenants(self) -> list[str]:
        return await self._reader().run(credentials.list_tenants)

    async def create_tenant(self, tenant: str) -> bool:
        return await self._write(lambda c: credentials.create_tenant(c, tenant))

    async def delete_tenant(self, tenant: str) -> bool:
        return await self._write(lambda c: credentials.delete_tenant(c, tenant))

    async def get_invitations(
        self, tenant: str, user_ids: Sequence[str]
    ) -> dict[str, InvitationRecord]:
        return await self._reader().run(
            lambda c: invitations.get_invitations(c, tenant, user_ids)
        )

    async def list_invitations(
        self, tenant: str, *, states: Collection[InvitationState] | None = None
    ) -> list[InvitationRecord]:
        return await self._reader().run(
            lambda c: invitations.list_invitations(c, tenant, states)
        )

    async def find_invitation(self, token_digest: str) -> InvitationRecord | None:
        return await self._reader().run(
            lambda c: invitations.find_invitation(c, token_digest)
        )

    async def claim_outbox(self, *, limit: int, lease: float) -> list[OutboxEntry]:
        return await self._write(lambda c: invitations.claim_outbox(c, limit, lease))

    async def complete_outbox(self, entry: OutboxEntry) -> bool:
        return await self._write(
            lambda c: invitations.finish_outbox(c, entry, None, None)
        )

    async def complete_outbox_many(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        return await self._write(lambda c: invitations.complete_outbox_many(c, entries))

    async def retry_outbox(
        self, entry: OutboxEntry, error: str, *, retry_at: datetime
    ) -> bool:
        return await self._write(
            lambda c: invitations.finish_outbox(c, entry, error, retry_at)
        )

    async def fail_outbox(self, entry: OutboxEntry, error: str) -> bool:
        return await self._write(
            lambda c: invitations.finish_outbox(c, entry, error, None)
        )

    async def _write(self, function: Callable[[sqlite3.Connection], T]) -> T:
        """Run `function` as a unit of its own, in one hop; returns once committed.

        The outbox worker writes one of these per batch of messages, and a
        PATCH that only changes members one per request, so the writer lock
        is held for one hop only. Like any unit, it leaves its changes to the
        next one's COMMIT while others wait.
        """
        writer = self._require(self._writer)
        result, group = await self._queue.alone(writer, function)
        if group is not None:
            await _committed(group)
        return result

    def _reader(self) -> _Worker:
        readers = self._readers
        if not readers:
            raise UnavailableError("SQLite backend is not open")
        self._next_reader = (self._next_reader + 1) % len(readers)
        return readers[self._next_reader]

    @staticmethod
    def _require(worker: _Worker | None) -> _Worker:
        if worker is None:
            raise UnavailableError("SQLite backend is not open")
        return worker

    async def _optimize(self, writer: _Worker) -> None:
        # Lets SQLite refresh the statistics its planner uses, as its
        # documentation advises before closing a connection.
        try:
            await writer.run(lambda c: c.execute("PRAGMA optimize"))
        except BackendError as exc:
            logger.warning("sqlite.optimize_failed error=%s", exc)

    def _probe(self) -> None:
        """Open and close the file once, so that a bad path fails here.

        aiosqlite leaves its thread behind when its `connect` fails.
        """
        try:
            sqlite3.connect(self.path, uri=self._is_uri).close()
        except sqlite3.Error as exc:
            raise UnavailableError(f"cannot open SQLite database: {exc}") from exc
        if not self._is_uri and not _is_writable(self.path):
            # WAL mode writes beside the file (-wal, -shm), so a read-only
            # file or folder cannot even be read; say so rather than
            # "unable to open database file".
            raise UnavailableError(
                f"SQLite database {self.path} or its folder is read-only",
                outage=Outage.READ_ONLY,
            )

    async def _connect(self, workers: list[_Worker]) -> _Worker:
        try:
            connection = await aiosqlite.connect(
                self.path,
                uri=self._is_uri,
                isolation_level=None,
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise UnavailableError(f"cannot open SQLite database: {exc}") from exc
        worker = _Worker(connection)
        workers.append(worker)
        return worker

    def _prepare_writer(self, connection: sqlite3.Connection) -> list[int]:
        _yield_to_event_loop()
        configure(connection, busy_timeout=self._busy_timeout)
        # A unit that joins a group marks its start with a savepoint, whose
        # journal then stays in memory rather than in a temporary file.
        connection.execute("PRAGMA temp_store = MEMORY")
        enable_wal(connection, checkpoints=self._checkpoint_interval <= 0)
        return apply_migrations(connection)

    def _prepare_checkpoints(self, connection: sqlite3.Connection) -> None:
        _yield_to_event_loop()
        configure(connection, busy_timeout=self._busy_timeout)

    def _prepare_reader(self, connection: sqlite3.Connection) -> None:
        _yield_to_event_loop()
        configure(connection, busy_timeout=self._busy_timeout)
        connection.execute("PRAGMA query_only = ON")


def _yield_to_event_loop() -> None:
    """Let the calling connection thread wake without preempting the event loop.

    A call wakes the connection's thread while the event loop's thread holds
    the GIL, so the woken thread can only wait for it; on Linux, as
    SCHED_BATCH, it waits without first taking the CPU, which saves two
    context switches a call (docs/benchmarks.md).
    """
    policy = getattr(os, "SCHED_BATCH", None)
    if policy is None or not hasattr(os, "sched_setscheduler"):
        return
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
    except OSError:
        logger.debug("sqlite.sched_batch_refused")
