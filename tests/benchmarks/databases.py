"""A fresh database for one benchmark run: a SQLite file or a new Postgres database."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

__all__ = ["fresh_database", "is_postgres", "pending_messages", "with_database_name"]


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def with_database_name(url: str, name: str) -> str:
    """The same Postgres URL naming database `name` instead of its own."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def fresh_database(server: str | None, folder: Path) -> Iterator[str]:
    """The database setting of an empty database, removed afterwards.

    `server` None (or `sqlite`) means a new SQLite file in `folder`; a Postgres
    URL means a new database `bench_<random>` on that server, created through
    the URL's own database and dropped at the end.
    """
    if server is None or server == "sqlite":
        path = folder / "bench.sqlite3"
        try:
            yield str(path)
        finally:
            for leftover in folder.glob("bench.sqlite3*"):
                leftover.unlink()
        return
    if not is_postgres(server):
        raise ValueError("BENCH_DATABASE must be sqlite or a postgresql:// URL")
    name = f"bench_{secrets.token_hex(4)}"
    asyncio.run(_execute(server, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database_name(server, name)
    finally:
        asyncio.run(_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def pending_messages(database: str) -> int:
    """Outbox messages still to deliver in a Postgres database; 0 for SQLite.

    On SQLite the worker's work shows as the server's CPU; on Postgres the
    server may wait on the database between batches while messages remain.
    """
    if not is_postgres(database):
        return 0
    return asyncio.run(_pending(database))


async def _pending(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE status = 'pending'"
        )
    finally:
        await connection.close()
    return count
