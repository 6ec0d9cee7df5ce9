"""A real `scim-gateway serve` losing its PostgreSQL server under load, and healing.

The server is a throwaway cluster this test owns (tests/postgres_cluster.py),
stopped with `pg_ctl stop -m immediate` while requests keep coming; the shared
test server is never touched. Tokens are stored in the database, so that
authentication reads it too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.e2e.scim_calls import ERROR, PATCH_OP, USER_SCHEMA
from tests.e2e.server import Server, run_cli
from tests.postgres_cluster import ThrowawayCluster, throwaway_cluster

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


WORKERS = 4
PATIENCE = 20.0  # seconds for a phase; far beyond what healing takes


@dataclass(frozen=True)
class Answer:
    """One response of the stream; status 0 when the request got none."""

    status: int
    headers: httpx.Headers
    text: str

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


class Traffic:
    """A steady stream of reads and writes to one gateway, every answer kept."""

    def __init__(self, base: str, token: str, user_id: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=f"{base}/scim/v2",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        self.user_id = user_id
        self.answers: list[Answer] = []
        self.is_running = True

    async def run(self) -> None:
        async with self.client, anyio.create_task_group() as group:
            for worker in range(WORKERS):
                group.start_soon(self._work, worker)

    async def _work(self, worker: int) -> None:
        sent = 0
        while self.is_running:
            request = self._request(worker, sent)
            try:
                response = await self.client.send(request)
                answer = Answer(response.status_code, response.headers, response.text)
            except httpx.TransportError as exc:
                answer = Answer(0, httpx.Headers(), type(exc).__name__)
            self.answers.append(answer)
            sent += 1
            await anyio.sleep(0.01)

    def _request(self, worker: int, sent: int) -> httpx.Request:
        kind = (worker + sent) % 4
        if kind == 0:
            return self.client.build_request("GET", f"/Users/{self.user_id}")
        if kind == 1:
            name = f'userName eq "user-{worker}-{sent - 4}@example.com"'
            return self.client.build_request("GET", "/Users", params={"filter": name})
        if kind == 2:
            name = f"user-{worker}-{sent}@example.com"
            body = {"schemas": [USER_SCHEMA], "userName": name}
            return self.client.build_request("POST", "/Users", json=body)
        operation = {"op": "replace", "path": "active", "value": sent % 2 == 0}
        patch = {"schemas": [PATCH_OP], "Operations": [operation]}
        return self.client.build_request("PATCH", f"/Users/{self.user_id}", json=patch)

    async def wait_for(self, count: int, *, ok: bool, since: int) -> None:
        """Wait until the last `count` answers after `since` all (do not) succeed."""
        with anyio.fail_after(PATIENCE):
            while True:
                recent = self.answers[since:][-count:]
                if len(recent) == count and all(a.is_success == ok for a in recent):
                    return
                await anyio.sleep(0.05)


@pytest.fixture
async def cluster() -> AsyncIterator[ThrowawayCluster]:
    async with throwaway_cluster() as server:
        yield server


@pytest.fixture
def token(cluster: ThrowawayCluster) -> str:
    issued = run_cli("token", "issue", "--database", cluster.dsn)
    assert issued.returncode == 0, issued.stderr
    return issued.stdout.strip()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def serve(servers: list[Server], tmp_path: Path, database: str) -> Server:
    server = Server(["--database", database], cwd=tmp_path)
    servers.append(server)
    server.wait_ready()
    return server


async def get(base: str, path: str, token: str) -> httpx.Response:
    return await send(base, "GET", path, token)


async def send(
    base: str, method: str, path: str, token: str, body: Any = None
) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.request(
            method,
            f"{base}{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )


def assert_unavailable(answer: Answer) -> None:
    assert answer.status == 503, answer.text
    assert answer.headers["retry-after"].isdigit()
    assert answer.headers["content-type"].startswith("application/scim+json")
    body = httpx.Response(503, content=answer.text).json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == "503"
    assert "database" in body["detail"]


async def test_requests_get_503_while_the_database_is_down_and_succeed_after(
    cluster: ThrowawayCluster, token: str, tmp_path: Path, servers: list[Server]
) -> None:
    gateway = serve(servers, tmp_path, cluster.dsn)
    ann = {"schemas": [USER_SCHEMA], "userName": "ann.lee@example.com"}
    created = await send(gateway.base, "POST", "/scim/v2/Users", token, ann)
    traffic = Traffic(gateway.base, token, created.json()["id"])

    async with anyio.create_task_group() as group:
        group.start_soon(traffic.run)
        await traffic.wait_for(20, ok=True, since=0)
        await cluster.stop("immediate")
        stopped_at = len(traffic.answers)
        await traffic.wait_for(20, ok=False, since=stopped_at)
        ready_while_down = await get(gateway.base, "/readyz", token)
        # An unknown token makes the gateway reread the token table, at most
        # once a second: that read fails too, and the answer is 503, not 401.
        await anyio.sleep(1.1)
        stranger = await get(gateway.base, "/scim/v2/Users", "not-a-known-token")
        await cluster.start()
        started_at = len(traffic.answers)
        await traffic.wait_for(40, ok=True, since=started_at)
        ready_after = await get(gateway.base, "/readyz", token)
        traffic.is_running = False

    answers = traffic.answers
    failures = [a for a in answers if not a.is_success]
    assert failures, "the stream never saw the database go away"
    for answer in failures:
        assert_unavailable(answer)
    assert not [a for a in answers if "Traceback" in a.text]
    assert ready_while_down.status_code == 503
    assert_unavailable(Answer(stranger.status_code, stranger.headers, stranger.text))
    assert ready_after.status_code == 200
    assert gateway.process.poll() is None
    assert "Traceback" not in gateway.output()
    assert "internal_error" not in gateway.output()
