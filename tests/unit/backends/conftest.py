"""Fixtures for the Postgres backend tests: a fresh schema and a backend in it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from scim_gateway.backends.postgres import PostgresBackend
from tests.backends import POSTGRES_URL, postgres_schema


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with postgres_schema() as name:
        yield name


async def _opened(schema: str) -> AsyncIterator[PostgresBackend]:
    backend = PostgresBackend(POSTGRES_URL, schema=schema)
    await backend.open()
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
async def postgres(schema: str) -> AsyncIterator[PostgresBackend]:
    async for backend in _opened(schema):
        yield backend


@pytest.fixture
async def postgres_peer(
    schema: str, postgres: PostgresBackend
) -> AsyncIterator[PostgresBackend]:
    """A second backend on the same tables, as another gateway process has."""
    async for backend in _opened(schema):
        yield backend


@pytest.fixture
async def sql(schema: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain connection whose search_path is the test schema."""
    connection = await asyncpg.connect(
        POSTGRES_URL, server_settings={"search_path": f'"{schema}"'}
    )
    try:
        yield connection
    finally:
        await connection.close()
