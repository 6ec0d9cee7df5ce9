"""A throwaway PostgreSQL cluster that a test owns, to stop and start at will.

Outage tests must not stop the shared test server, so they make a cluster of
their own with the server's tools: initdb into a temporary folder, listening
on 127.0.0.1 and a free port only. `pg_ctl stop -m immediate` is the closest
thing to a crash or a cut network.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

__all__ = ["ThrowawayCluster", "throwaway_cluster"]


class ThrowawayCluster:
    """A PostgreSQL cluster of our own, run as `run_as` when we are root."""

    def __init__(self, bin_dir: Path, folder: Path, run_as: str | None) -> None:
        self.bin_dir = bin_dir
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.run_as = run_as
        self._paused: list[int] = []

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

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

    def pause(self) -> None:
        """Freeze the server (SIGSTOP to its processes): connections stay open
        but nothing answers, as with a hung host or a cut network."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        # The postmaster first, so that it starts no child we would miss.
        os.kill(postmaster, signal.SIGSTOP)
        self._paused = [postmaster, *_children(postmaster)]
        for pid in self._paused[1:]:
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._paused:
            os.kill(pid, signal.SIGCONT)
        self._paused = []

    async def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        await anyio.run_process(command, check=True)


@asynccontextmanager
async def throwaway_cluster() -> AsyncIterator[ThrowawayCluster]:
    """A started cluster in a temporary folder, stopped and removed afterwards.

    Skips the test when this machine has no server binaries, or when it runs as
    root without a `postgres` account (initdb refuses to run as root).
    """
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb) on this machine")
    account = _server_account()
    # Not pytest's tmp_path: its parents are private to root, and the server
    # runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="scim-gateway-pg-"))
    if account is not None:
        os.chown(folder, account.pw_uid, account.pw_gid)
    run_as = None if account is None else account.pw_name
    cluster = ThrowawayCluster(bin_dir, folder, run_as)
    try:
        await cluster.initdb()
        await cluster.start()
        yield cluster
    finally:
        cluster.resume()
        if cluster.is_running:
            await cluster.stop("fast")
        shutil.rmtree(folder, ignore_errors=True)


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    path = shutil.which("initdb")
    candidates = [Path(found[-1]).parent] if found else []
    candidates += [Path(path).parent] if path else []
    return candidates[0] if candidates else None


def _server_account() -> pwd.struct_passwd | None:
    """The account to run the server as: None unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user for initdb")


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        # The command name may hold spaces; the fields after it do not.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
