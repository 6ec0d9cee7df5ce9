"""The PostgreSQL backend (asyncpg): for production and for several gateway processes.

Resources are rows of `resources` (the SCIM document as jsonb, plus real
columns for what is looked up, sorted and kept unique), members are rows of
`memberships`; see `postgres_migrations`. Filters, sorting and paging run in
SQL (`postgres_query`), and uniqueness is enforced by unique indexes.

A lost database never surfaces as a driver exception: every call raises
`UnavailableError` while the server is unreachable, and heals by itself when it
is back, since the pool replaces dead connections and a failed `open` is
retried by the next call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from scim_gateway.backends import postgres_credentials as credentials
from scim_gateway.backends import postgres_invitations as invitations
from scim_gateway.backends import postgres_members as members
from scim_gateway.backends.base import (
    GROUP,
    USER,
    Backend,
    Page,
    Query,
    StoredResource,
    Transaction,
)
from scim_gateway.backends.columns import new_ordered_id
from scim_gateway.backends.credentials import CredentialStore, TokenRecord
from scim_gateway.backends.errors import (
    ConflictError,
    MemberNotFoundError,
    NotFoundError,
    UnavailableError,
    VersionMismatchError,
)
from scim_gateway.backends.invitations import (
    InvitationRecord,
    InvitationState,
    OutboxEntry,
    OutboxMessage,
    check_tenant,
)
from scim_gateway.backends.postgres_maintenance import StatisticsKeeper
from scim_gateway.backends.postgres_migrations import migrate, quote_ident
from scim_gateway.backends.postgres_pages import ANCHOR_SPACING, Census, PageKeeper
from scim_gateway.backends.postgres_query import (
    anchored_page_sql,
    count_sql,
    page_keys_sql,
    page_sql,
    walk_sql,
)
from scim_gateway.backends.postgres_rows import (
    connection_errors,
    derive_columns,
    init_connection,
    to_groups,
    to_members,
    to_resource,
    unique_attribute,
)
from scim_gateway.backends.postgres_statements import (
    CREATE,
    delete_sql,
    get_sql,
    members_sql,
    replace_sql,
    version_sql,
)

__all__ = ["PostgresBackend"]

logger = logging.getLogger(__name__)

Connection = asyncpg.Connection | PoolConnectionProxy
T = TypeVar("T")


class PostgresBackend(Backend, CredentialStore):
    """Storage in PostgreSQL through a pool of asyncpg connections.

    It keeps the tenants and token digests too (`CredentialStore`).

    Args:
        dsn: a libpq connection URI, `postgresql://user@host:5432/database`;
            a `schema=name` query parameter stands for the `schema` option
            (for `--database` on the command line).
        schema: the schema that holds the tables, created if missing; None
            uses the server's search_path (normally `public`).
        min_pool_size: connections kept open.
        max_pool_size: connections at most; further requests wait for one.
        connect_timeout: seconds to wait for a new connection.
        acquire_timeout: seconds a request waits for a free pool connection
            before `UnavailableError`.
        command_timeout: seconds one statement may take before
            `UnavailableError`; it bounds the wait on a server that stopped
            answering without closing its connections (a frozen host, a cut
            network). None waits forever. Migrations are exempt.
        maintenance_interval: seconds between checks of the tables'
            statistics when the server runs without autovacuum (see
            `postgres_maintenance`); 0 never checks.
    """

    name = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        min_pool_size: int = 1,
        max_pool_size: int = 10,
        connect_timeout: float = 5.0,
        acquire_timeout: float = 30.0,
        command_timeout: float | None = 10.0,
        maintenance_interval: float = 5.0,
    ) -> None:
        self._dsn, schema_in_dsn = _split_schema(dsn)
        self._schema = schema if schema is not None else schema_in_dsn
        self._min_pool_size = min_pool_size
        self._max_pool_size = max_pool_size
        self._connect_timeout = connect_timeout
        self._acquire_timeout = acquire_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._group_queues = members.GroupQueues()
        self._pages = PageKeeper()
        self._is_closed = False
        self._statistics = StatisticsKeeper(self._run, interval=maintenance_interval)

    def __repr__(self) -> str:
        # The DSN may carry a password.
        return f"PostgresBackend(schema={self._schema!r})"

    async def open(self) -> None:
        """Connect and apply the migrations this schema lacks.

        Raises:
            UnavailableError: the server cannot be reached; the next call
                tries again.
        """
        self._is_closed = False
        await self._ready_pool()

    async def close(self) -> None:
        self._is_closed = True
        await self._statistics.stop()
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout=10)
        except (Exception, asyncio.CancelledError):
            pool.terminate()
            raise

    async def ping(self) -> None:
        await self._run(lambda c: c.fetchval("SELECT 1"))

    @asynccontextmanager
    async def transaction(self, tenant: str) -> AsyncIterator[Transaction]:
        async with self._connection() as connection:
            transaction = connection.transaction()
            with connection_errors():
                await transaction.start()
            unit = PostgresTransaction(connection, tenant)
            try:
                yield unit
                await unit.flush()
            except BaseException as exc:
                _drop_if_unanswered(connection, exc)
                await _rollback_quietly(transaction)
                raise
            with connection_errors():
                await transaction.commit()

    async def get(
        self,
        tenant: str,
        resource_type: str,
        resource_id: str,
        *,
        with_members: bool = False,
        with_groups: bool = False,
    ) -> StoredResource:
        async with self._connection() as connection:
            return await _get(
                connection,
                tenant,
                resource_type,
                resource_id,
                with_members=with_members,
                with_groups=with_groups,
                lock=False,
            )

    async def query(self, tenant: str, resource_type: str, query: Query) -> Page:
        return await self._run(
            lambda c: _query(c, self._pages, tenant, resource_type, query)
        )

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
        # One statement, committed on its own: no BEGIN and COMMIT round trips.
        args = _create_args(tenant, resource_type, document, resource_id)
        if invitation is not None and message is not None:
            check_tenant(invitation, tenant)
            args += invitations.invitation_args(invitation, message)
            row = await self._run(lambda c: c.fetchrow(CREATE_INVITED, *args))
        elif invitation is None and message is None:
            row = await self._run(lambda c: c.fetchrow(CREATE, *args))
        else:
            # One without the other: the transaction writes what was given.
            return await super().create(
                tenant,
                resource_type,
                document,
                resource_id=resource_id,
                invitation=invitation,
                message=message,
            )
        if row is None:
            raise ConflictError(unique_attribute(resource_type))
        return to_resource(row)

    async def change_members(
        self,
        tenant: str,
        group_id: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        expected_version: int | None = None,
    ) -> StoredResource:
        adding = list(dict.fromkeys(add))
        if not _is_storable(group_id) or not all(map(_is_storable, adding)):
            # An id the database cannot hold: the transaction sorts out whether
            # the answer is the group's 404 or the member's error.
            return await super().change_members(
                tenant,
                group_id,
                add=adding,
                remove=remove,
                expected_version=expected_version,
            )
        removing = [i for i in dict.fromkeys(remove) if _is_storable(i)]
        async with self._group_queues.turn(tenant, group_id):
            group = await self._run(
                lambda c: members.change_members(
                    c, tenant, group_id, adding, removing, expected_version
                )
            )
            if group is None:
                group = await super().change_members(
                    tenant,
                    group_id,
                    add=adding,
                    remove=removing,
                    expected_version=expected_version,
                )
        return group

    async def list_tokens(self, tenant: str | None = None) -> list[TokenRecord]:
        return await self._run(lambda c: credentials.list_tokens(c, tenant))

    async def add_token(
        self, tenant: str, digest: str, *, label: str = ""
    ) -> TokenRecord:
        return await self._run(
            lambda c: credentials.add_token(c, tenant, digest, label)
        )

    async def revoke_token(self, token_id: str) -> bool:
        return await self._run(lambda c: credentials.revoke_token(c, token_id))

    async def list_tenants(self) -> list[str]:
        return await self._run(credentials.list_tenants)

    async def create_tenant(self, tenant: str) -> bool:
        return await self._run(lambda c: credentials.create_tenant(c, tenant))

    async def delete_tenant(self, tenant: str) -> bool:
        return await self._run(lambda c: credentials.delete_tenant(c, tenant))

    async def get_invitations(
        self, tenant: str, user_ids: Sequence[str]
    ) -> dict[str, InvitationRecord]:
        return await self._run(
            lambda c: invitations.get_invitations(c, tenant, user_ids)
        )

    async def list_invitations(
        self, tenant: str, *, states: Collection[InvitationState] | None = None
    ) -> list[InvitationRecord]:
        return await self._run(
            lambda c: invitations.list_invitations(c, tenant, states)
        )

    async def find_invitation(self, token_digest: str) -> InvitationRecord | None:
        return await self._run(lambda c: invitations.find_invitation(c, token_digest))

    async def claim_outbox(self, *, limit: int, lease: float) -> list[OutboxEntry]:
        return await self._run(lambda c: invitations.claim_outbox(c, limit, lease))

    async def complete_outbox(self, entry: OutboxEntry) -> bool:
        return await self._run(
            lambda c: invitations.finish_outbox(c, entry, None, None)
        )

    async def complete_outbox_many(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        return await self._run(lambda c: invitations.complete_outbox_many(c, entries))

    async def retry_outbox(
        self, entry: OutboxEntry, error: str, *, retry_at: datetime
    ) -> bool:
        return await self._run(
            lambda c: invitations.finish_outbox(c, entry, error, retry_at)
        )

    async def fail_outbox(self, entry: OutboxEntry, error: str) -> bool:
        return await self._run(
            lambda c: invitations.finish_outbox(c, entry, error, None)
        )

    async def _run(self, action: Callable[[Connection], Awaitable[T]]) -> T:
        async with self._connection() as connection:
            with connection_errors():
                return await action(connection)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Connection]:
        pool = await self._ready_pool()
        with connection_errors():
            # asyncio.timeout, not acquire's own, which runs a task per call.
            async with asyncio.timeout(self._acquire_timeout):
                connection = await pool.acquire()
        try:
            yield connection
        except BaseException as exc:
            _drop_if_unanswered(connection, exc)
            raise
        finally:
            await _release_quietly(pool, connection)

    async def _ready_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        if self._is_closed:
            raise UnavailableError("the PostgreSQL backend is closed")
        async with self._opening:
            if self._pool is None:
                self._pool = await self._create_pool()
                self._statistics.start()
        return self._pool

    async def _create_pool(self) -> asyncpg.Pool:
        await self._migrate()
        with connection_errors():
            return await asyncpg.create_pool(
                self._dsn,
                min_size=self._min_pool_size,
                max_size=self._max_pool_size,
                init=init_connection,
                reset=_keep_session,
                server_settings=self._server_settings(),
                timeout=self._connect_timeout,
                command_timeout=self._command_timeout,
            )

    async def _migrate(self) -> None:
        # A connection of its own, without the pool's command timeout: a
        # migration may index a large table, and a process waits on the
        # advisory lock while another one migrates.
        with connection_errors():
            connection = await asyncpg.connect(
                self._dsn,
                server_settings=self._server_settings(),
                timeout=self._connect_timeout,
            )
        try:
            with connection_errors():
                applied = await migrate(connection, schema=self._schema)
        except BaseException:
            connection.terminate()
            raise
        with connection_errors():
            await connection.close(timeout=self._connect_timeout)
        logger.info("postgres.open migrations_applied=%s", applied or "none")

    def _server_settings(self) -> dict[str, str]:
        # The gateway's statements are small; compiling one to machine code
        # would cost more than running it. Planning one costs about as much
        # as running it, too, and Postgres would plan every run of a prepared
        # statement anew for its parameters whenever it estimates the generic
        # plan dearer (a member added to a group spent 0.3 ms of its 0.6 ms
        # there). The statements pick rows by keys and indexes whatever the
        # values, so one plan per statement and connection serves them all.
        settings = {
            "application_name": "scim-gateway",
            "jit": "off",
            "plan_cache_mode": "force_generic_plan",
        }
        if self._schema is not None:
            settings["search_path"] = quote_ident(self._schema)
        return settings


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Release a pool connection as it is (asyncpg still rolls back an open
    transaction first).

    The default reset costs a round trip per request (`RESET ALL`, `CLOSE ALL`,
    `UNLISTEN *`, advisory unlocks), and undoes nothing the gateway does: its
    session settings come with the connection, it declares no cursors, listens
    to nothing and takes only transaction-scoped advisory locks.
    """


def _drop_if_unanswered(connection: Connection, exc: BaseException) -> None:
    """Close a connection whose statement outlived `command_timeout`.

    The server may be gone without closing the socket (a frozen host, a cut
    network); asyncpg would wait as long again for it to acknowledge the cancel
    before a rollback or a release could run.
    """
    if isinstance(exc, UnavailableError) and isinstance(exc.__cause__, TimeoutError):
        connection.terminate()


async def _release_quietly(pool: asyncpg.Pool, connection: PoolConnectionProxy) -> None:
    # The pool closes a connection it cannot reset; an error here must not
    # hide the one the request raised.
    try:
        await pool.release(connection)
    except Exception:
        logger.debug("postgres.release_failed", exc_info=True)


async def _rollback_quietly(transaction: asyncpg.transaction.Transaction) -> None:
    # The original error matters more; a dead connection cannot roll back, and
    # the server discards its transaction anyway.
    try:
        await transaction.rollback()
    except Exception:
        logger.debug("postgres.rollback_failed", exc_info=True)


class PostgresTransaction(Transaction):
    """One unit of work on one pool connection, inside BEGIN ... COMMIT.

    An invitation put is held back until the next call: when that is the
    enqueue of its message, as when a user is invited, both go in one
    statement. Any other call, and the commit, write it first.
    """

    def __init__(self, connection: Connection, tenant: str) -> None:
        self._connection = connection
        self.tenant = tenant
        self._invitation: InvitationRecord | None = None

    async def flush(self) -> None:
        """Write the invitation held back, if any."""
        record, self._invitation = self._invitation, None
        if record is not None:
            with connection_errors():
                await invitations.put_invitation(self._connection, record)

    async def get(
        self,
        resource_type: str,
        resource_id: str,
        *,
        with_members: bool = False,
        with_groups: bool = False,
    ) -> StoredResource:
        await self.flush()
        return await _get(
            self._connection,
            self.tenant,
            resource_type,
            resource_id,
            with_members=with_members,
            with_groups=with_groups,
            lock=True,
        )

    async def create(
        self,
        resource_type: str,
        document: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> StoredResource:
        await self.flush()
        with connection_errors():
            row = await self._connection.fetchrow(
                CREATE, *_create_args(self.tenant, resource_type, document, resource_id)
            )
        if row is None:
            raise ConflictError(unique_attribute(resource_type))
        return to_resource(row)

    async def replace(
        self,
        resource_type: str,
        resource_id: str,
        document: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> StoredResource:
        await self.flush()
        if not _is_storable(resource_id):
            raise NotFoundError(resource_type, resource_id)
        derived = derive_columns(resource_type, document)
        args = (
            self.tenant,
            resource_id,
            expected_version,
            document,
            *derived.as_args(),
        )
        try:
            with connection_errors():
                row = await self._connection.fetchrow(replace_sql(resource_type), *args)
        except asyncpg.UniqueViolationError as exc:
            # A concurrent transaction took the name after our check.
            raise ConflictError(unique_attribute(resource_type)) from exc
        if row is None:
            await self._explain_miss(resource_type, resource_id, expected_version)
            raise ConflictError(unique_attribute(resource_type))
        return to_resource(row)

    async def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> None:
        await self.flush()
        if not _is_storable(resource_id):
            raise NotFoundError(resource_type, resource_id)
        args = (self.tenant, resource_id, expected_version)
        with connection_errors():
            deleted = await self._connection.fetchval(delete_sql(resource_type), *args)
        if deleted is None:
            await self._explain_miss(resource_type, resource_id, expected_version)

    async def add_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        await self._change_members("add", group_id, member_ids)

    async def remove_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        await self._change_members("remove", group_id, member_ids)

    async def replace_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        await self._change_members("replace", group_id, member_ids)

    async def get_invitation(self, user_id: str) -> InvitationRecord | None:
        await self.flush()
        with connection_errors():
            return await invitations.get_invitation(
                self._connection, self.tenant, user_id, lock=True
            )

    async def put_invitation(self, record: InvitationRecord) -> None:
        check_tenant(record, self.tenant)
        await self.flush()
        self._invitation = record

    async def enqueue(self, message: OutboxMessage) -> None:
        record, self._invitation = self._invitation, None
        with connection_errors():
            if record is None:
                await invitations.enqueue(self._connection, self.tenant, message)
            else:
                await invitations.put_and_enqueue(self._connection, record, message)

    async def _change_members(
        self, operation: str, group_id: str, member_ids: Sequence[str]
    ) -> None:
        await self.flush()
        if not _is_storable(group_id):
            raise NotFoundError(GROUP, group_id)
        ids = list(dict.fromkeys(member_ids))
        unstorable = [i for i in ids if not _is_storable(i)]
        if unstorable and operation != "remove":
            raise MemberNotFoundError(unstorable)
        ids = [i for i in ids if _is_storable(i)]
        try:
            with connection_errors():
                row = await self._connection.fetchrow(
                    members_sql(operation), self.tenant, group_id, ids
                )
        except asyncpg.ForeignKeyViolationError as exc:
            # A member was deleted by a concurrent transaction meanwhile.
            raise MemberNotFoundError(ids) from exc
        assert row is not None  # a SELECT without FROM returns one row
        if row["applied"]:
            return
        if not row["group_exists"]:
            raise NotFoundError(GROUP, group_id)
        found = set(row["found"])
        raise MemberNotFoundError([i for i in ids if i not in found])

    async def _explain_miss(
        self, resource_type: str, resource_id: str, expected_version: int | None
    ) -> None:
        """Raise why a write matched no row, unless it was a name clash."""
        with connection_errors():
            version = await self._connection.fetchval(
                version_sql(resource_type), self.tenant, resource_id
            )
        if version is None:
            raise NotFoundError(resource_type, resource_id)
        if expected_version is not None and version != expected_version:
            raise VersionMismatchError(expected_version, version)


def _split_schema(dsn: str) -> tuple[str, str | None]:
    """The DSN without its `schema` query parameter, and that parameter.

    asyncpg would send an unknown parameter to the server as a setting.
    """
    parts = urlsplit(dsn)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in pairs if key == "schema"]
    if not schemas:
        return dsn, None
    rest = urlencode([(key, value) for key, value in pairs if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schemas[-1]


# A new user with its invitation and the message that announces it.
CREATE_INVITED = invitations.with_invitation(CREATE, 9)


def _create_args(
    tenant: str, resource_type: str, document: dict[str, Any], resource_id: str | None
) -> tuple[Any, ...]:
    """The parameters of `CREATE`, with a fresh id unless one is given."""
    # Time-ordered: the indexes keyed by ids (the resource's, its
    # invitation's, its outbox messages') grow at their end.
    new = new_ordered_id() if resource_id is None else resource_id
    derived = derive_columns(resource_type, document)
    return (tenant, resource_type, new, document, *derived.as_args())


def _is_storable(text: str) -> bool:
    """PostgreSQL text cannot hold NUL: an id with one names nothing stored, and
    must not reach the driver, which would raise instead of finding nothing."""
    return "\x00" not in text


async def _get(
    connection: Connection,
    tenant: str,
    resource_type: str,
    resource_id: str,
    *,
    with_members: bool,
    with_groups: bool,
    lock: bool,
) -> StoredResource:
    if not _is_storable(resource_id):
        raise NotFoundError(resource_type, resource_id)
    sql = get_sql(
        resource_type, with_members=with_members, with_groups=with_groups, lock=lock
    )
    with connection_errors():
        row = await connection.fetchrow(sql, tenant, resource_id)
    if row is None:
        raise NotFoundError(resource_type, resource_id)
    members = groups = None
    if with_members and resource_type == GROUP:
        members = to_members(
            row["member_ids"], row["member_types"], row["member_displays"]
        )
    if with_groups and resource_type == USER:
        groups = to_groups(row["group_ids"], row["group_displays"])
    return to_resource(row, members=members, groups=groups)


async def _query(
    connection: Connection,
    pages: PageKeeper,
    tenant: str,
    resource_type: str,
    query: Query,
) -> Page:
    if query.count is not None and query.count <= 0:
        return Page([], await _count(connection, tenant, resource_type, query))

    kind = (tenant, resource_type)
    anchored = (
        query.filter is None
        and query.sort is None
        and query.count is not None
        and query.start_index > ANCHOR_SPACING
        and not (query.with_members and resource_type == GROUP)
    )
    if anchored:
        page = await _anchored_page(connection, pages, kind, query)
        if page is not None:
            return page

    sql, args = page_sql(tenant, resource_type, query, census=anchored)
    logger.debug("postgres.query sql=%s", sql)
    rows = await connection.fetch(sql, *args)
    if not rows:
        # Past the last page the total is still the number of matches.
        return Page([], await _count(connection, tenant, resource_type, query))

    page = Page(_resources(pages, tenant, resource_type, query, rows), rows[0]["total"])
    census = Census.of(rows[0]) if anchored else None
    if census is not None and pages.should_walk(kind, census):
        with pages.walking(kind):
            spacing = pages.spacing(census.total)
            walk = await connection.fetch(walk_sql(resource_type), tenant, spacing)
            # One row: the census is an aggregate.
            pages.keep_anchors(kind, Census.of(walk[0]), spacing, walk[0]["seqs"])
    return page


async def _anchored_page(
    connection: Connection, pages: PageKeeper, kind: tuple[str, str], query: Query
) -> Page | None:
    """The page from the anchor below its start, if the anchors still hold:
    the resources kept of it when none changed, else its rows."""
    kept = pages.anchors(kind)
    if kept is None:
        return None
    census, anchors = kept
    start = anchors.start(query.start_index - 1)
    if start is None:
        return None
    seq, skip = start
    tenant, resource_type = kind
    args = (tenant, seq, query.count, skip)
    with_groups = query.with_groups and resource_type == USER

    keys = (await connection.fetch(page_keys_sql(resource_type, query), *args))[0]
    if Census.of(keys) != census:
        pages.drop(kind, Census.of(keys))
        return None
    known = pages.known(tenant, keys, with_groups)
    if known is not None:
        return Page(known, census.total)

    rows = await connection.fetch(anchored_page_sql(resource_type, query), *args)
    seen = Census.of(rows[0]) if rows else None
    if seen != census:
        pages.drop(kind, seen)
        return None
    return Page(_resources(pages, tenant, resource_type, query, rows), census.total)


def _resources(
    pages: PageKeeper,
    tenant: str,
    resource_type: str,
    query: Query,
    rows: Sequence[asyncpg.Record],
) -> list[StoredResource]:
    if query.with_members and resource_type == GROUP:
        # Never kept: a group's members may be many.
        return [
            to_resource(
                row,
                members=to_members(
                    row["member_ids"], row["member_types"], row["member_displays"]
                ),
            )
            for row in rows
        ]
    with_groups = query.with_groups and resource_type == USER
    return [pages.resource(tenant, row, with_groups) for row in rows]


async def _count(
    connection: Connection, tenant: str, resource_type: str, query: Query
) -> int:
    sql, args = count_sql(tenant, resource_type, query)
    total: int = await connection.fetchval(sql, *args)
    return total
