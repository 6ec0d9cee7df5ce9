"""A lost PostgreSQL server: 503-style errors while it is gone, healing once it is back.

These tests run their own throwaway cluster (initdb into a temporary folder,
127.0.0.1 and a free port only) and stop it with `pg_ctl stop -m immediate`,
the closest thing to a crash or a cut network; the shared test server is
never touched.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from scim_gateway.backends.base import USER, StoredResource
from scim_gateway.backends.errors import UnavailableError
from scim_gateway.backends.postgres import PostgresBackend

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TENANT = "acme"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    path = shutil.which("initdb")
    candidates = [Path(found[-1]).parent] if found else []
    candidates += [Path(path).parent] if path else []
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ThrowawayCluster:
    """A PostgreSQL cluster of our own, run as `postgres` when we are root."""

    def __init__(self, bin_dir: Path, folder: Path, run_as: str | None) -> None:
        self.bin_dir = bin_dir
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.run_as = run_as

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    async def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        await anyio.run_process(command, check=True)

    async def initdb(self) -> None:
        await self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip

    async def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port}"
            f" -c unix_socket_directories={self.folder} -c fsync=off"
        )
        log = str(self.folder / "server.log")
        await self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start"
        )

    async def stop(self, mode: str = "immediate") -> None:
        await self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


@pytest.fixture
async def cluster() -> AsyncIterator[ThrowawayCluster]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine")
    run_as = None
    if os.geteuid() == 0:
        # initdb refuses to run as root; the folder must belong to the user.
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user for initdb")
        run_as = account.pw_name
    # Not pytest's tmp_path: its parents are private to root, and the server
    # runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="scim-gateway-pg-"))
    if run_as is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
    server = ThrowawayCluster(bin_dir, folder, run_as)
    try:
        await server.initdb()
        await server.start()
        yield server
    finally:
        await _stop_quietly(server)
        shutil.rmtree(folder, ignore_errors=True)


async def _stop_quietly(server: ThrowawayCluster) -> None:
    if (server.data / "postmaster.pid").exists():
        await server.stop("fast")


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
