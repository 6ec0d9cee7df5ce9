"""A lost PostgreSQL server: 503-style errors while it is gone, healing once it is back.

These tests run their own throwaway cluster (tests/postgres_cluster.py) and
stop it with `pg_ctl stop -m immediate`; the shared test server is never
touched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import anyio
import pytest

from scim_gateway.backends.base import USER, StoredResource
from scim_gateway.backends.errors import UnavailableError
from scim_gateway.backends.postgres import PostgresBackend
from tests.postgres_cluster import ThrowawayCluster, throwaway_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TENANT = "acme"


@pytest.fixture
async def cluster() -> AsyncIterator[ThrowawayCluster]:
    async with throwaway_cluster() as server:
        yield server


async def _eventually(call: Callable[[], Awaitable[StoredResource]]) -> StoredResource:
    """The result once the backend has healed: a stale pooled connection may
    cost one UnavailableError after the restart, never more than a few."""
    for _ in range(5):
        try:
            return await call()
        except UnavailableError:
            await anyio.sleep(0.2)
    return await call()


async def test_a_stopped_server_is_unavailable_and_heals_when_back(
    cluster: ThrowawayCluster,
) -> None:
    backend = PostgresBackend(cluster.dsn, min_pool_size=2, connect_timeout=2)
    await backend.open()
    async with backend.transaction(TENANT) as tx:
        ann = await tx.create(USER, {"userName": "ann"})

    try:
        await cluster.stop()
        with pytest.raises(UnavailableError):
            await backend.get(TENANT, USER, ann.id)
        with pytest.raises(UnavailableError):
            async with backend.transaction(TENANT) as tx:
                await tx.create(USER, {"userName": "bo"})
        with pytest.raises(UnavailableError):
            await backend.ping()

        await cluster.start()
        healed = await _eventually(lambda: backend.get(TENANT, USER, ann.id))
        await backend.ping()
    finally:
        await backend.close()

    assert healed.document == {"userName": "ann"}


async def test_a_server_lost_inside_a_transaction_is_unavailable(
    cluster: ThrowawayCluster,
) -> None:
    backend = PostgresBackend(cluster.dsn, connect_timeout=2)
    await backend.open()

    try:
        with pytest.raises(UnavailableError):
            async with backend.transaction(TENANT) as tx:
                await tx.create(USER, {"userName": "ann"})
                await cluster.stop()
                await tx.create(USER, {"userName": "bo"})
        await cluster.start()
        async with backend.transaction(TENANT) as tx:
            created = await tx.create(USER, {"userName": "ann"})
    finally:
        await backend.close()

    assert created.version == 1


async def test_a_frozen_server_is_unavailable_after_the_timeouts(
    cluster: ThrowawayCluster,
) -> None:
    """A server that answers nothing and closes nothing must not hang requests:
    statements on pooled connections end at command_timeout, new connections at
    connect_timeout."""
    backend = PostgresBackend(
        cluster.dsn, min_pool_size=2, connect_timeout=1, command_timeout=1
    )
    await backend.open()
    async with backend.transaction(TENANT) as tx:
        ann = await tx.create(USER, {"userName": "ann"})

    try:
        cluster.pause()
        with anyio.fail_after(20):
            with pytest.raises(UnavailableError):
                async with backend.transaction(TENANT) as tx:
                    await tx.create(USER, {"userName": "bo"})
            with pytest.raises(UnavailableError):
                await backend.get(TENANT, USER, ann.id)
            with pytest.raises(UnavailableError):
                await backend.ping()
        cluster.resume()
        healed = await _eventually(lambda: backend.get(TENANT, USER, ann.id))
    finally:
        cluster.resume()
        await backend.close()

    assert healed.document == {"userName": "ann"}


async def test_open_while_the_server_is_down_succeeds_later(
    cluster: ThrowawayCluster,
) -> None:
    await cluster.stop()
    backend = PostgresBackend(cluster.dsn, connect_timeout=2)

    try:
        with pytest.raises(UnavailableError):
            await backend.open()
        await cluster.start()
        await backend.ping()
        async with backend.transaction(TENANT) as tx:
            created = await tx.create(USER, {"userName": "ann"})
    finally:
        await backend.close()

    assert created.version == 1
