"""The statements that change SQLite: resources and memberships.

Each function runs on the writer connection's own thread inside an open
`BEGIN IMMEDIATE` transaction and does one operation in one hop to that
thread; `SqliteTransaction` turns results into `StoredResource` values.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import orjson

from scim_gateway.backends.base import GROUP, USER, StoredResource
from scim_gateway.backends.columns import (
    fold,
    format_instant,
    new_ordered_id,
    string_attribute,
    utc_now,
)
from scim_gateway.backends.errors import (
    MemberNotFoundError,
    NotFoundError,
    VersionMismatchError,
)
from scim_gateway.backends.sqlite_emails import index_emails
from scim_gateway.backends.sqlite_query import fetch_resource, literal, to_resource

__all__ = [
    "MEMBER_INSERT",
    "add_members",
    "change_members",
    "delete_resource",
    "dump_json",
    "prepare_insert",
    "remove_members",
    "replace_members",
    "update_resource",
]


def _derived(resource_type: str, document: dict[str, Any]) -> tuple[Any, ...]:
    """The columns kept beside the document, in `resources` column order."""
    user_name = fold(document.get("userName")) if resource_type == USER else None
    display_name = string_attribute(document, "displayName")
    external_id = string_attribute(document, "externalId")
    return (user_name, external_id, display_name, fold(display_name))


def dump_json(document: dict[str, Any]) -> str:
    """Compact JSON text of a document, as SQLite keeps it."""
    try:
        return orjson.dumps(document).decode()
    except TypeError:
        # Integers past 64 bits, which orjson refuses and JSON allows.
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def prepare_insert(
    tenant: str,
    resource_type: str,
    document: dict[str, Any],
    resource_id: str | None = None,
) -> tuple[StoredResource, Callable[[sqlite3.Connection], None]]:
    """A new resource as it will be stored, and the statement that stores it.

    Everything the caller gets back (id, timestamps, version 1) is decided
    here, so the insert itself may run later in the same transaction; a
    clash of `userName` raises when it runs.
    """
    resource_id, now, text = (
        new_ordered_id() if resource_id is None else resource_id,
        format_instant(utc_now()),
        dump_json(document),
    )
    params = (
        tenant,
        resource_type,
        resource_id,
        text,
        *_derived(resource_type, document),
        now,
        now,
    )

    def insert(connection: sqlite3.Connection) -> None:
        cursor = connection.execute(
            "INSERT INTO resources (tenant, resource_type, id, document,"
            " user_name_folded, external_id, display_name, display_name_folded,"
            " created, last_modified, version)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)",
            params,
        )
        seq = cursor.lastrowid
        assert seq is not None  # an INSERT into a rowid table always sets it
        index_emails(connection, seq, text, is_new=True)

    row = (resource_id, text, 1, now, now)
    return to_resource(resource_type, row, document=document), insert


def update_resource(
    connection: sqlite3.Connection,
    tenant: str,
    resource_type: str,
    resource_id: str,
    document: dict[str, Any],
    expected_version: int | None,
) -> StoredResource:
    now, text = format_instant(utc_now()), dump_json(document)
    guard, params = _version_guard(expected_version)
    row = connection.execute(
        "UPDATE resources SET document = ?, user_name_folded = ?, external_id = ?,"
        " display_name = ?, display_name_folded = ?, last_modified = ?,"
        " version = version + 1"
        f" WHERE tenant = ? AND id = ? AND resource_type = {literal(resource_type)}"
        f"{guard} RETURNING version, created, seq",
        (text, *_derived(resource_type, document), now, tenant, resource_id, *params),
    ).fetchone()
    if row is None:
        _raise_missing(connection, tenant, resource_type, resource_id, expected_version)
    version, created, seq = row
    index_emails(connection, seq, text, is_new=False)
    row = (resource_id, text, version, created, now)
    return to_resource(resource_type, row, document=document)


def delete_resource(
    connection: sqlite3.Connection,
    tenant: str,
    resource_type: str,
    resource_id: str,
    expected_version: int | None,
) -> None:
    _check_version(connection, tenant, resource_type, resource_id, expected_version)
    # The groups that lose this member change too: a new version for their ETag.
    connection.execute(
        "UPDATE resources SET version = version + 1, last_modified = ?"
        " WHERE tenant = ? AND id IN"
        " (SELECT group_id FROM memberships WHERE tenant = ? AND member_id = ?)",
        (format_instant(utc_now()), tenant, tenant, resource_id),
    )
    connection.execute(
        "DELETE FROM resources WHERE tenant = ? AND id = ?", (tenant, resource_id)
    )


def add_members(
    connection: sqlite3.Connection,
    tenant: str,
    group_id: str,
    member_ids: Sequence[str],
) -> None:
    _check_group(connection, tenant, group_id)
    ids = json.dumps(list(member_ids))
    _check_members(connection, tenant, ids)
    if _insert_members(connection, tenant, group_id, ids):
        _touch(connection, tenant, group_id)


def remove_members(
    connection: sqlite3.Connection,
    tenant: str,
    group_id: str,
    member_ids: Sequence[str],
) -> None:
    _check_group(connection, tenant, group_id)
    cursor = connection.execute(
        "DELETE FROM memberships WHERE tenant = ? AND group_id = ?"
        " AND member_id IN (SELECT value FROM json_each(?))",
        (tenant, group_id, json.dumps(list(member_ids))),
    )
    if cursor.rowcount > 0:
        _touch(connection, tenant, group_id)


def change_members(
    connection: sqlite3.Connection,
    tenant: str,
    group_id: str,
    add: Sequence[str],
    remove: Sequence[str],
    expected_version: int | None,
) -> StoredResource:
    """Check the group's version, remove then add members; the group after."""
    _check_version(connection, tenant, GROUP, group_id, expected_version)
    if remove:
        remove_members(connection, tenant, group_id, remove)
    if add:
        add_members(connection, tenant, group_id, add)
    group = fetch_resource(connection, tenant, GROUP, group_id)
    assert group is not None  # checked above, in this write transaction
    return group


def replace_members(
    connection: sqlite3.Connection,
    tenant: str,
    group_id: str,
    member_ids: Sequence[str],
) -> None:
    _check_group(connection, tenant, group_id)
    ids = json.dumps(list(member_ids))
    _check_members(connection, tenant, ids)
    removed = connection.execute(
        "DELETE FROM memberships WHERE tenant = ? AND group_id = ?"
        " AND member_id NOT IN (SELECT value FROM json_each(?))",
        (tenant, group_id, ids),
    ).rowcount
    added = _insert_members(connection, tenant, group_id, ids)
    if removed > 0 or added:
        _touch(connection, tenant, group_id)


# From the ids to their rows, by the id index: `CROSS JOIN` keeps that order,
# where SQLite would otherwise be free to scan all of a tenant's resources in
# an index that holds the id, testing each against the list.
MEMBER_INSERT = (
    "INSERT OR IGNORE INTO memberships (tenant, group_id, member_id, member_type)"
    " SELECT ?, ?, r.id, r.resource_type FROM json_each(?) AS j"
    " CROSS JOIN resources AS r WHERE r.tenant = ? AND r.id = j.value"
)


def _insert_members(
    connection: sqlite3.Connection, tenant: str, group_id: str, ids: str
) -> bool:
    """Insert the memberships not there yet; True if any was."""
    cursor = connection.execute(MEMBER_INSERT, (tenant, group_id, ids, tenant))
    return cursor.rowcount > 0


def _check_group(connection: sqlite3.Connection, tenant: str, group_id: str) -> None:
    row = connection.execute(
        "SELECT 1 FROM resources WHERE tenant = ? AND id = ?"
        f" AND resource_type = {literal(GROUP)}",
        (tenant, group_id),
    ).fetchone()
    if row is None:
        raise NotFoundError(GROUP, group_id)


def _check_members(connection: sqlite3.Connection, tenant: str, ids: str) -> None:
    rows = connection.execute(
        "SELECT j.value FROM json_each(?) AS j WHERE NOT EXISTS"
        " (SELECT 1 FROM resources AS r WHERE r.tenant = ? AND r.id = j.value)",
        (ids, tenant),
    )
    missing = list(dict.fromkeys(row[0] for row in rows))
    if missing:
        raise MemberNotFoundError(missing)


def _touch(connection: sqlite3.Connection, tenant: str, resource_id: str) -> None:
    connection.execute(
        "UPDATE resources SET version = version + 1, last_modified = ?"
        " WHERE tenant = ? AND id = ?",
        (format_instant(utc_now()), tenant, resource_id),
    )


def _version_guard(expected_version: int | None) -> tuple[str, tuple[int, ...]]:
    if expected_version is None:
        return "", ()
    return " AND version = ?", (expected_version,)


def _check_version(
    connection: sqlite3.Connection,
    tenant: str,
    resource_type: str,
    resource_id: str,
    expected_version: int | None,
) -> None:
    row = connection.execute(
        "SELECT version FROM resources"
        f" WHERE tenant = ? AND id = ? AND resource_type = {literal(resource_type)}",
        (tenant, resource_id),
    ).fetchone()
    if row is None:
        raise NotFoundError(resource_type, resource_id)
    if expected_version is not None and row[0] != expected_version:
        raise VersionMismatchError(expected_version, row[0])


def _raise_missing(
    connection: sqlite3.Connection,
    tenant: str,
    resource_type: str,
    resource_id: str,
    expected_version: int | None,
) -> NoReturn:
    _check_version(connection, tenant, resource_type, resource_id, expected_version)
    raise AssertionError("update matched no row although the resource is there")
