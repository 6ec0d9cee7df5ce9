"""The benchmark runners read their settings and build their commands as documented."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

import pytest

from scim_gateway.backends.invitations import OutboxMessage
from scim_gateway.backends.postgres import PostgresBackend
from tests.backends import POSTGRES_URL, postgres_reachable, require_postgres
from tests.benchmarks.databases import (
    fresh_database,
    pending_messages,
    with_database_name,
)
from tests.benchmarks.run import BenchConfig, server_command
from tests.benchmarks.scale import ScaleConfig
from tests.benchmarks.workload import WrkResult


def test_bench_defaults_to_sqlite_with_10000_users_beside_the_repository() -> None:
    config = BenchConfig.from_env({})

    assert config.database is None
    assert (config.users, config.members) == (10_000, 5_000)
    assert config.scenarios == "filter page get patch post"
    assert config.harness.parts[-2:] == ("shared", "bench")


def test_bench_takes_database_users_and_harness_from_the_environment() -> None:
    config = BenchConfig.from_env(
        {
            "BENCH_DATABASE": "postgresql://postgres@127.0.0.1:5432/test",
            "BENCH_USERS": "100000",
            "BENCH_HARNESS": "/elsewhere/bench",
        }
    )

    assert config.database == "postgresql://postgres@127.0.0.1:5432/test"
    assert config.users == 100_000
    assert config.harness == Path("/elsewhere/bench")


def test_server_command_serves_with_the_harness_port_and_token_at_info() -> None:
    command = server_command(Path("/venv/bin/scim-gateway"), "/tmp/a b/bench.sqlite3")

    words = shlex.split(command)

    assert words[:3] == ["exec", "/venv/bin/scim-gateway", "serve"]
    assert words[words.index("--port") + 1] == "$PORT"
    assert words[words.index("--token") + 1] == "$TOKEN"
    assert words[words.index("--database") + 1] == "/tmp/a b/bench.sqlite3"
    assert words[words.index("--log-level") + 1] == "INFO"


def test_a_postgres_url_is_pointed_at_another_database() -> None:
    url = "postgresql://postgres@127.0.0.1:5432/test?sslmode=disable"

    assert with_database_name(url, "bench_1a2b") == (
        "postgresql://postgres@127.0.0.1:5432/bench_1a2b?sslmode=disable"
    )


def test_a_fresh_sqlite_database_is_removed_afterwards(tmp_path: Path) -> None:
    with fresh_database(None, tmp_path) as database:
        Path(database).write_text("")
        Path(database + "-wal").write_text("")

    assert list(tmp_path.iterdir()) == []


def test_scale_sizes_come_from_bench_scale() -> None:
    assert ScaleConfig.from_env({}).sizes == (1_000, 101_000)
    assert ScaleConfig.from_env({"BENCH_SCALE": "500,2000"}).sizes == (500, 2_000)


def test_wrk_result_is_read_from_the_last_bench_line() -> None:
    output = (
        "Running 5s test\n"
        "BENCH\t1.0\t1\t2\t0\t5\t0\t-\n"
        "BENCH\t2503.4\t5.10\t21.75\t3\t12517\t1\t404:3\n"
    )

    result = WrkResult.parse(output)

    assert result == WrkResult(2503.4, 5.10, 21.75, 3, 12517, 1)


def test_a_sqlite_database_has_no_pending_messages_to_wait_for(tmp_path: Path) -> None:
    assert pending_messages(str(tmp_path / "bench.sqlite3")) == 0


@pytest.mark.postgres
def test_pending_messages_counts_the_postgres_outbox(tmp_path: Path) -> None:
    reason = asyncio.run(postgres_reachable())
    if reason is not None and not require_postgres():
        pytest.skip(reason)
    with fresh_database(POSTGRES_URL, tmp_path) as database:
        asyncio.run(_open_and_close(database))
        before = pending_messages(database)
        asyncio.run(_enqueue(database))
        after = pending_messages(database)

    assert (before, after) == (0, 1)


async def _open_and_close(database: str) -> None:
    backend = PostgresBackend(database)
    await backend.open()
    await backend.close()


async def _enqueue(database: str) -> None:
    backend = PostgresBackend(database)
    await backend.open()
    try:
        async with backend.transaction("acme") as tx:
            await tx.enqueue(OutboxMessage("m-1", "u-1", "invited", {"a": 1}))
    finally:
        await backend.close()
