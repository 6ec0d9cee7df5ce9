"""Tenants and token digests in PostgreSQL: the statements `PostgresBackend` runs.

The tables come from migration 3 (`postgres_migrations`). Several gateway
processes share them, so a token issued or revoked by one (`scim-gateway
token ...`) is seen by all.
"""

from __future__ import annotations

import uuid

import asyncpg
from asyncpg.pool import PoolConnectionProxy

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

Connection = asyncpg.Connection | PoolConnectionProxy

MIGRATION = """
CREATE TABLE tenants (
    id text COLLATE "C" PRIMARY KEY,
    created timestamptz NOT NULL DEFAULT statement_timestamp()
);

-- Only the SHA-256 digest of a token is kept, never the token.
CREATE TABLE tokens (
    id text PRIMARY KEY,
    tenant text COLLATE "C" NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    digest text NOT NULL UNIQUE,
    label text NOT NULL DEFAULT '',
    created timestamptz NOT NULL DEFAULT statement_timestamp()
);
CREATE INDEX tokens_tenant_idx ON tokens (tenant);
"""

_CREATE_TENANT = "INSERT INTO tenants (id) VALUES ($1) ON CONFLICT (id) DO NOTHING"


async def list_tokens(connection: Connection, tenant: str | None) -> list[TokenRecord]:
    rows = await connection.fetch(
        "SELECT id, tenant, digest, created, label FROM tokens"
        " WHERE $1::text IS NULL OR tenant = $1 ORDER BY created, id",
        tenant,
    )
    return [TokenRecord(*row) for row in rows]


async def add_token(
    connection: Connection, tenant: str, digest: str, label: str
) -> TokenRecord:
    """Store a digest, creating its tenant first if needed (one transaction)."""
    async with connection.transaction():
        await connection.execute(_CREATE_TENANT, tenant)
        row = await connection.fetchrow(
            "INSERT INTO tokens (id, tenant, digest, label) VALUES ($1, $2, $3, $4)"
            " RETURNING id, tenant, digest, created, label",
            str(uuid.uuid4()),
            tenant,
            digest,
            label,
        )
    assert row is not None  # INSERT ... RETURNING of one row
    return TokenRecord(*row)


async def revoke_token(connection: Connection, token_id: str) -> bool:
    deleted = await connection.fetchval(
        "DELETE FROM tokens WHERE id = $1 RETURNING id", token_id
    )
    return deleted is not None


async def list_tenants(connection: Connection) -> list[str]:
    # COLLATE "C" on the column: code point order, as Python's sorted().
    rows = await connection.fetch("SELECT id FROM tenants ORDER BY id")
    return [row["id"] for row in rows]


async def create_tenant(connection: Connection, tenant: str) -> bool:
    created = await connection.fetchval(f"{_CREATE_TENANT} RETURNING id", tenant)
    return created is not None


async def delete_tenant(connection: Connection, tenant: str) -> bool:
    """Delete the tenant's resources (memberships cascade), invitations,
    outbox messages, tokens and row.

    Its rows of `resource_counts` stay, at zero with their removals
    (migration 7): counts that never start over tell processes that what
    they keep of the tenant's pages is out of date.
    """
    async with connection.transaction():
        await connection.execute("DELETE FROM resources WHERE tenant = $1", tenant)
        await connection.execute("DELETE FROM invitations WHERE tenant = $1", tenant)
        await connection.execute("DELETE FROM outbox WHERE tenant = $1", tenant)
        deleted = await connection.fetchval(
            "DELETE FROM tenants WHERE id = $1 RETURNING id", tenant
        )
    return deleted is not None
