"""Backends for tests: one factory per kind, and the Postgres test database.

Every backend test takes the `backend` fixture (tests/conftest.py), which is
parametrised over `BACKEND_KINDS`; Postgres tests run in a schema of their own
that is created before and dropped after each test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from scim_gateway.backends.base import Backend

BACKEND_KINDS = ["memory", "sqlite", "postgres"]

POSTGRES_URL = os.environ.get(
    "SCIM_GATEWAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


def require_postgres() -> bool:
    return os.environ.get("REQUIRE_POSTGRES") == "1"


async def postgres_reachable() -> str | None:
    """None when the test server answers, else the reason it does not."""
    import asyncpg

    try:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}"
    await connection.close()
    return None


async def skip_without_postgres() -> None:
    reason = await postgres_reachable()
    if reason is None:
        return
    if require_postgres():
        pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[str]:
    """A fresh, empty schema in the test database, dropped afterwards."""
    import asyncpg

    await skip_without_postgres()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


@contextmanager
def postgres_database() -> Iterator[str]:
    """The URL of a fresh database on the test server, dropped afterwards.

    For tests that hand a URL to another process, which cannot share a schema
    set up by this one.
    """
    import asyncpg

    asyncio.run(_check_postgres_now())
    name = f"test_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_URL)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _check_postgres_now() -> None:
    await skip_without_postgres()


@asynccontextmanager
async def open_backend(kind: str, tmp_path: Path) -> AsyncIterator[Backend]:
    """An opened, empty backend of `kind`, closed afterwards."""
    async with _make_backend(kind, tmp_path) as backend:
        await backend.open()
        try:
            yield backend
        finally:
            await backend.close()


@asynccontextmanager
async def _make_backend(kind: str, tmp_path: Path) -> AsyncIterator[Backend]:
    if kind == "memory":
        from scim_gateway.backends.memory import MemoryBackend

        yield MemoryBackend()
    elif kind == "sqlite":
        from scim_gateway.backends.sqlite import SqliteBackend

        yield SqliteBackend(tmp_path / "scim.sqlite3")
    elif kind == "postgres":
        from scim_gateway.backends.postgres import PostgresBackend

        async with postgres_schema() as schema:
            yield PostgresBackend(POSTGRES_URL, schema=schema)
    else:
        raise ValueError(f"unknown backend kind {kind!r}")
