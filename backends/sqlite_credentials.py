"""Tenants and token digests in SQLite: statements run on a connection's thread."""

from __future__ import annotations

import sqlite3

from scim_gateway.backends.columns import (
    format_instant,
    new_id,
    parse_instant,
    utc_now,
)
from scim_gateway.backends.credentials import TokenRecord

__all__ = [
    "MIGRATION",
    "add_token",
    "create_tenant",
    "delete_tenant",
    "list_tenants",
    "list_tokens",
    "revoke_token",
]

# Applied after the resource tables (see sqlite_schema.MIGRATIONS).
MIGRATION: tuple[str, ...] = (
    """
    CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        created TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        digest TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX tokens_by_tenant ON tokens (tenant)",
)


def list_tokens(
    connection: sqlite3.Connection, tenant: str | None
) -> list[TokenRecord]:
    rows = connection.execute(
        "SELECT id, tenant, digest, created, label FROM tokens"
        " WHERE ?1 IS NULL OR tenant = ?1 ORDER BY created, id",
        (tenant,),
    ).fetchall()
    return [TokenRecord(r[0], r[1], r[2], parse_instant(r[3]), r[4]) for r in rows]


def add_token(
    connection: sqlite3.Connection, tenant: str, digest: str, label: str
) -> TokenRecord:
    create_tenant(connection, tenant)
    record = TokenRecord(new_id(), tenant, digest, utc_now(), label)
    connection.execute(
        "INSERT INTO tokens (id, tenant, digest, label, created)"
        " VALUES (?, ?, ?, ?, ?)",
        (record.id, tenant, digest, label, format_instant(record.created)),
    )
    return record


def revoke_token(connection: sqlite3.Connection, token_id: str) -> bool:
    return (
        connection.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount > 0
    )


def list_tenants(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute("SELECT id FROM tenants ORDER BY id").fetchall()
    return [row[0] for row in rows]


def create_tenant(connection: sqlite3.Connection, tenant: str) -> bool:
    cursor = connection.execute(
        "INSERT INTO tenants (id, created) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
        (tenant, format_instant(utc_now())),
    )
    return cursor.rowcount > 0


def delete_tenant(connection: sqlite3.Connection, tenant: str) -> bool:
    # Memberships go with their resources through the foreign keys' cascades.
    connection.execute("DELETE FROM resources WHERE tenant = ?", (tenant,))
    connection.execute("DELETE FROM invitations WHERE tenant = ?", (tenant,))
    connection.execute("DELETE FROM outbox WHERE tenant = ?", (tenant,))
    return (
        connection.execute("DELETE FROM tenants WHERE id = ?", (tenant,)).rowcount > 0
    )
