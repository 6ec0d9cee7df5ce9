"""SQLite's spelling of compiled filters, and the statements that read resources.

The read functions run on a connection's own thread and return plain rows;
`SqliteBackend` turns them into `StoredResource` values.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, cast

from scim_gateway.backends import sqlite_emails as emails
from scim_gateway.backends.base import (
    GROUP,
    USER,
    GroupRef,
    Member,
    Page,
    Query,
    StoredResource,
)
from scim_gateway.backends.columns import fold, parse_instant
from scim_gateway.backends.sql import (
    AtomTarget,
    ColumnTarget,
    ConstTarget,
    FilterCompiler,
    JsonTarget,
    SqlValue,
    Target,
)
from scim_gateway.backends.sqlite_pages import ANCHOR_SPACING, PageCache, Walk
from scim_gateway.filters.ast import AttrPath

__all__ = [
    "RESOURCES_BY_IDS",
    "PageStatements",
    "SqliteCompiler",
    "fetch_page",
    "fetch_resource",
    "groups_statement",
    "json_path",
    "literal",
    "members_statement",
    "page_statements",
    "resource_statement",
    "to_resource",
]

logger = logging.getLogger(__name__)

RESOURCE_COLUMNS = "r.id, r.document, r.version, r.created, r.last_modified"

ResourceRow = tuple[str, str, int, str, str]


def json_path(keys: Sequence[str]) -> str:
    """A JSON path literal; each key is quoted since URNs hold colons and dots."""
    for key in keys:
        if '"' in key or "'" in key or "\\" in key:
            raise ValueError(f"attribute name {key!r} cannot be addressed in SQL")
    return "'$" + "".join(f'."{key}"' for key in keys) + "'"


def literal(text: str) -> str:
    """An SQL string literal, for the few constants the planner must see.

    A resource type in the WHERE clause lets SQLite use the partial unique
    indexes on userName and displayName.
    """
    return "'" + text.replace("'", "''") + "'"


class SqliteCompiler(FilterCompiler):
    """Filter compilation for SQLite's JSON1 functions and our `scim_*` functions."""

    def placeholder(self, index: int) -> str:
        return "?"

    def json_value(self, base: str, keys: tuple[str, ...]) -> str:
        return f"json_extract({base}, {json_path(keys)})"

    def json_type(self, base: str, keys: tuple[str, ...]) -> str:
        return f"json_type({base}, {json_path(keys)})"

    def fold(self, text: str) -> str:
        return f"scim_lower({text})"

    def text_of(self, target: Target, *, folded: bool) -> str:
        if isinstance(target, ConstTarget):
            value = fold(target.value) if folded else target.value
            return "NULL" if value is None else self.param(value)
        if isinstance(target, ColumnTarget):
            if not folded:
                return target.sql
            return target.folded_sql or self.fold(target.sql)
        value = self.value_of(target)
        return self.fold(value) if folded else f"scim_text({value})"

    def number_of(self, target: Target) -> str:
        if isinstance(target, JsonTarget):
            kind = self.json_type(target.base, target.keys)
            value = self.json_value(target.base, target.keys)
            return f"(CASE WHEN {kind} IN ('integer', 'real') THEN {value} END)"
        if isinstance(target, AtomTarget):
            alias = target.alias
            return (
                f"(CASE WHEN {alias}.type IN ('integer', 'real') THEN {alias}.atom END)"
            )
        return "NULL"

    def instant_of(self, target: Target) -> str:
        if isinstance(target, ColumnTarget) and target.sql in _INSTANT_COLUMNS:
            return target.sql
        if isinstance(target, ConstTarget):
            return "NULL"
        return f"scim_instant({self.value_of(target)})"

    def boolean_is(self, target: Target, value: bool) -> str:
        expected = "'true'" if value else "'false'"
        if isinstance(target, JsonTarget):
            return f"{self.json_type(target.base, target.keys)} = {expected}"
        if isinstance(target, AtomTarget):
            return f"{target.alias}.type = {expected}"
        return "FALSE"

    def present(self, target: Target) -> str:
        if isinstance(target, ConstTarget):
            return "TRUE" if target.value else "FALSE"
        if isinstance(target, ColumnTarget):
            return f"({target.sql} IS NOT NULL AND {target.sql} <> '')"
        if isinstance(target, AtomTarget):
            return f"scim_present({target.alias}.type, {target.alias}.value)"
        kind = self.json_type(target.base, target.keys)
        return f"scim_present({kind}, {self.json_value(target.base, target.keys)})"

    def contains(self, text: str, needle: str) -> str:
        return f"instr({text}, {self.param(needle)}) > 0"

    def starts_with(self, text: str, prefix: str) -> str:
        return f"instr({text}, {self.param(prefix)}) = 1"

    def ends_with(self, text: str, suffix: str) -> str:
        return f"substr({text}, -length({self.param(suffix)})) = {self.param(suffix)}"

    def narrowing(self, attr: AttrPath, value: str) -> str | None:
        if attr.uri is not None or attr.name != emails.INDEXED_ATTRIBUTE:
            return None
        return emails.narrowing(self.param(fold(value)))

    def elements(self, base: str, keys: tuple[str, ...], alias: str) -> str:
        return f"json_each({base}, {json_path(keys)}) AS {alias}"

    def element_object(self, alias: str) -> str:
        return f"(CASE WHEN {alias}.type = 'object' THEN {alias}.value END)"

    def is_primary(self, alias: str) -> str:
        primary = f"json_type({alias}.value, '$.\"primary\"') = 'true'"
        return f"(CASE WHEN {alias}.type = 'object' THEN {primary} ELSE FALSE END)"

    def element_order(self, alias: str) -> str:
        return f"{alias}.key"

    def value_of(self, target: Target) -> str:
        if isinstance(target, JsonTarget):
            return self.json_value(target.base, target.keys)
        if isinstance(target, AtomTarget):
            return f"{target.alias}.atom"
        if isinstance(target, ColumnTarget):
            return target.sql
        if target.value is None:
            return "NULL"
        return self.param(target.value)


_INSTANT_COLUMNS = frozenset({"r.created", "r.last_modified"})


def to_resource(
    resource_type: str,
    row: ResourceRow,
    *,
    members: list[Member] | None = None,
    groups: list[GroupRef] | None = None,
    document: dict[str, Any] | None = None,
) -> StoredResource:
    """A row as a `StoredResource`; `document` is the row's text decoded, if known."""
    resource_id, text, version, created, last_modified = row
    return StoredResource(
        resource_type=resource_type,
        id=resource_id,
        text=text,
        document=document,
        version=version,
        created=parse_instant(created),
        last_modified=parse_instant(last_modified),
        members=members,
        groups=groups,
    )


def resource_statement(resource_type: str) -> str:
    """The SELECT of one resource by tenant and id."""
    return (
        f"SELECT {RESOURCE_COLUMNS} FROM resources AS r WHERE r.tenant = ?"
        f" AND r.id = ? AND r.resource_type = {literal(resource_type)}"
    )


def fetch_resource(
    connection: sqlite3.Connection,
    tenant: str,
    resource_type: str,
    resource_id: str,
    *,
    with_members: bool = False,
    with_groups: bool = False,
) -> StoredResource | None:
    """The one resource, with its members or groups when asked; None when absent."""
    statement = resource_statement(resource_type)
    if not (with_members or with_groups):
        row = connection.execute(statement, (tenant, resource_id)).fetchone()
        return None if row is None else to_resource(resource_type, row)
    with snapshot(connection):
        row = connection.execute(statement, (tenant, resource_id)).fetchone()
        if row is None:
            return None
        [resource] = _to_resources(
            connection, tenant, resource_type, [row], with_members, with_groups
        )
        return resource


@contextmanager
def snapshot(connection: sqlite3.Connection) -> Iterator[None]:
    """One read transaction around several statements, unless one is open."""
    if connection.in_transaction:
        yield
        return
    connection.execute("BEGIN")
    try:
        yield
    finally:
        connection.execute("COMMIT")


@dataclass(frozen=True)
class PageStatements:
    """The statements of a list request: the count of matches, and one page.

    In the default order there are more: `walk`, which finds anchors, and
    `anchored_sql`, a page from the first match at or after a `seq`
    (parameters: `count_params`, that `seq`, the limit, the offset).
    """

    count_sql: str
    count_params: list[SqlValue]
    page_sql: str
    page_params: list[SqlValue]
    walk: Walk | None = None
    anchored_sql: str | None = None


def page_statements(
    tenant: str,
    resource_type: str,
    query: Query,
    *,
    columns: str = RESOURCE_COLUMNS,
) -> PageStatements:
    """The statements of `query`; a page's rows hold `columns`."""
    compiler = SqliteCompiler(resource_type)
    where = (
        f"r.tenant = {compiler.param(tenant)}"
        f" AND r.resource_type = {literal(resource_type)}"
    )
    if query.filter is not None:
        where += f" AND {compiler.where(query.filter)}"
    count_params = list(compiler.params)
    order = compiler.order_by(query.sort)
    offset = max(query.start_index, 1) - 1
    limit = -1 if query.count is None else max(query.count, 0)
    logger.debug("sqlite.query where=%s order=%s", where, order)
    statements = PageStatements(
        f"SELECT count(*) FROM resources AS r WHERE {where}",
        count_params,
        f"SELECT {columns} FROM resources AS r WHERE {where}"
        f" ORDER BY {order} LIMIT ? OFFSET ?",
        [*compiler.params, limit, offset],
    )
    if query.sort is not None:
        return statements
    return replace(
        statements,
        walk=Walk(
            f"SELECT r.seq FROM resources AS r WHERE {where}"
            " AND r.seq >= ? ORDER BY r.seq LIMIT 1 OFFSET ?",
            f"SELECT count(*) FROM resources AS r WHERE {where} AND r.seq >= ?",
        ),
        anchored_sql=f"SELECT {columns} FROM resources AS r WHERE {where}"
        " AND r.seq >= ? ORDER BY r.seq LIMIT ? OFFSET ?",
    )


def fetch_page(
    connection: sqlite3.Connection,
    tenant: str,
    resource_type: str,
    query: Query,
    *,
    cache: PageCache | None = None,
) -> Page:
    """The number of matches and one page of them, in one read transaction.

    Groups with their members are read afresh, as their members may be many.
    Any other page reads only its ids in order, then the rows of those
    resources that the reader has not kept (`PageCache.resources`).
    """
    keeps = not query.with_members
    columns = "r.id" if keeps else RESOURCE_COLUMNS
    statements = page_statements(tenant, resource_type, query, columns=columns)
    cache = cache or PageCache()
    with snapshot(connection):
        cache.check(connection)
        if query.count is not None and query.count <= 0:
            return Page([], _total(connection, statements, cache))
        rows, total = _page_rows(connection, statements, query, cache)
        if keeps:
            ids = [row[0] for row in rows]
            resources = _kept_resources(
                connection, tenant, resource_type, ids, query.with_groups, cache
            )
        else:
            full = cast(list[ResourceRow], rows)
            resources = _to_resources(
                connection, tenant, resource_type, full, True, query.with_groups
            )
        return Page(resources, total)


def _page_rows(
    connection: sqlite3.Connection,
    statements: PageStatements,
    query: Query,
    cache: PageCache,
) -> tuple[list[tuple[Any, ...]], int]:
    offset = max(query.start_index, 1) - 1
    if statements.anchored_sql is not None and offset >= ANCHOR_SPACING:
        return _anchored_rows(connection, statements, query, cache)
    rows = connection.execute(statements.page_sql, statements.page_params).fetchall()
    is_short = query.count is None or len(rows) < query.count
    if is_short and (rows or offset == 0):
        # The page holds every match from `offset` on: no count needed.
        return rows, offset + len(rows)
    return rows, _total(connection, statements, cache)


def _anchored_rows(
    connection: sqlite3.Connection,
    statements: PageStatements,
    query: Query,
    cache: PageCache,
) -> tuple[list[tuple[Any, ...]], int]:
    """A page far from the start: from the nearest kept anchor, not by OFFSET."""
    assert statements.walk is not None and statements.anchored_sql is not None
    key = (statements.count_sql, tuple(statements.count_params))
    anchors = cache.anchors(connection, key, statements.walk, statements.count_params)
    start = anchors.start(max(query.start_index, 1) - 1)
    if start is None:
        return [], anchors.total
    seq, skip = start
    limit = -1 if query.count is None else query.count
    params = [*statements.count_params, seq, limit, skip]
    rows = connection.execute(statements.anchored_sql, params).fetchall()
    return rows, anchors.total


def _total(
    connection: sqlite3.Connection, statements: PageStatements, cache: PageCache
) -> int:
    return cache.total(connection, statements.count_sql, statements.count_params)


def _to_resources(
    connection: sqlite3.Connection,
    tenant: str,
    resource_type: str,
    rows: list[ResourceRow],
    with_members: bool,
    with_groups: bool,
) -> list[StoredResource]:
    ids = [row[0] for row in rows]
    if with_members and resource_type == GROUP:
        members = fetch_members(connection, tenant, ids)
        return [to_resource(resource_type, r, members=members[r[0]]) for r in rows]
    if with_groups and resource_type == USER:
        groups = fetch_groups(connection, tenant, ids)
        return [to_resource(resource_type, r, groups=groups[r[0]]) for r in rows]
    return [to_resource(resource_type, row) for row in rows]


# The rows of a list of ids, looked up one by one in the id index (`CROSS
# JOIN` keeps SQLite from scanning the tenant instead).
RESOURCES_BY_IDS = (
    f"SELECT {RESOURCE_COLUMNS} FROM json_each(?) AS j"
    " CROSS JOIN resources AS r WHERE r.tenant = ? AND r.id = j.value"
)


def _kept_resources(
    connection: sqlite3.Connection,
    tenant: str,
    resource_type: str,
    ids: list[str],
    with_groups: bool,
    cache: PageCache,
) -> list[StoredResource]:
    """The resources of `ids`, in order: those kept, the others read and kept."""
    found = list(map(cache.resources(tenant, with_groups).get, ids))
    missing = [i for i, r in zip(ids, found, strict=True) if r is None]
    if not missing:
        return cast(list[StoredResource], found)
    rows = connection.execute(RESOURCES_BY_IDS, (json.dumps(missing), tenant))
    built = _to_resources(
        connection, tenant, resource_type, rows.fetchall(), False, with_groups
    )
    cache.keep_resources(tenant, with_groups, built)
    by_id = {r.id: r for r in built}
    return [r if r is not None else by_id[i] for i, r in zip(ids, found, strict=True)]


def _among(column: str, ids: list[str]) -> tuple[str, str]:
    """`column` is one of `ids`: an equality for one id, else a JSON array."""
    if len(ids) == 1:
        return f"{column} = ?", ids[0]
    return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(ids)


def members_statement(condition: str) -> str:
    """Members of groups with their type and display (displayName or userName)."""
    return (
        "SELECT m.group_id, m.member_id, m.member_type,"
        " COALESCE(d.display_name, json_extract(d.document, '$.\"userName\"'))"
        " FROM memberships AS m"
        " JOIN resources AS d ON d.tenant = m.tenant AND d.id = m.member_id"
        f" WHERE m.tenant = ? AND {condition} ORDER BY m.group_id, m.member_id"
    )


def groups_statement(condition: str) -> str:
    """The groups users belong to directly, with each group's displayName."""
    return (
        "SELECT m.member_id, m.group_id, g.display_name FROM memberships AS m"
        " JOIN resources AS g ON g.tenant = m.tenant AND g.id = m.group_id"
        f" WHERE m.tenant = ? AND {condition} ORDER BY m.member_id, m.group_id"
    )


def fetch_members(
    connection: sqlite3.Connection, tenant: str, group_ids: list[str]
) -> dict[str, list[Member]]:
    """The members of each group, ordered by member id."""
    found: dict[str, list[Member]] = {group_id: [] for group_id in group_ids}
    condition, ids = _among("m.group_id", group_ids)
    rows = connection.execute(members_statement(condition), (tenant, ids))
    for group_id, member_id, member_type, display in rows:
        found[group_id].append(Member(member_id, member_type, display))
    return found


def fetch_groups(
    connection: sqlite3.Connection, tenant: str, user_ids: list[str]
) -> dict[str, list[GroupRef]]:
    """The groups each user belongs to directly, ordered by group id."""
    found: dict[str, list[GroupRef]] = {user_id: [] for user_id in user_ids}
    condition, ids = _among("m.member_id", user_ids)
    rows = connection.execute(groups_statement(condition), (tenant, ids))
    for user_id, group_id, display in rows:
        found[user_id].append(GroupRef(group_id, display))
    return found
