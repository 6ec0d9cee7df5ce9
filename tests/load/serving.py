"""A real `scim-gateway serve` on SQLite or Postgres, for load and fault runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from tests.backends import postgres_database
from tests.e2e.server import Server

TOKEN = "load-token-0123456789abcdef"
KINDS = ("sqlite", "postgres")

# Memberships whose group or member is gone, and groups whose members are
# not users or groups: what a half-applied write would leave behind.
ORPHANS = """
SELECT count(*) FROM memberships m
WHERE NOT EXISTS (
    SELECT 1 FROM resources r WHERE r.tenant = m.tenant AND r.id = m.group_id
) OR NOT EXISTS (
    SELECT 1 FROM resources r WHERE r.tenant = m.tenant AND r.id = m.member_id
)
"""


@contextmanager
def database_for(kind: str, folder: Path) -> Iterator[str]:
    """A fresh database of `kind`, as `--database` takes it."""
    if kind == "sqlite":
        yield str(folder / "gateway.sqlite3")
    elif kind == "postgres":
        with postgres_database() as url:
            yield url
    else:
        raise ValueError(f"unknown database kind {kind!r}")


def start(database: str, folder: Path, *extra: str) -> Server:
    server = Server(["--database", database, "--token", TOKEN, *extra], cwd=folder)
    server.wait_ready()
    return server


@contextmanager
def served(kind: str, folder: Path) -> Iterator[tuple[Server, str]]:
    """A started gateway on a fresh database, and that database's setting."""
    with database_for(kind, folder) as database:
        server = start(database, folder)
        try:
            yield server, database
        finally:
            server.stop()


def orphans(database: str) -> int:
    """Memberships that point at no resource (0 in a consistent database)."""
    if database.startswith("postgres"):
        import anyio

        return anyio.run(_postgres_orphans, database)
    connection = sqlite3.connect(database)
    try:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()
        assert integrity == ("ok",), integrity
        found: int = connection.execute(ORPHANS).fetchone()[0]
    finally:
        connection.close()
    return found


async def _postgres_orphans(database: str) -> int:
    connection = await asyncpg.connect(database)
    try:
        found: int = await connection.fetchval(ORPHANS)
    finally:
        await connection.close()
    return found
