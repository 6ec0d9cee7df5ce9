"""scim2-tester's conformance checks against a real server, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server
from scim2_tester.utils import CheckResult, Status

from tests.backends import BACKEND_KINDS, postgres_database
from tests.e2e.server import Server

TOKEN = "conformance-token-0123456789"
PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.SKIPPED}

# scim2-tester PATCHes every extension as a whole, as if it were writable; the
# invitation extension holds read-only attributes only, returned on request,
# so the gateway neither keeps what the PATCH sends nor echoes it back.
READ_ONLY_EXTENSION = "urn:scim-gateway:schemas:extension:invitation:1.0:User"


def is_read_only_extension_check(result: CheckResult) -> bool:
    data = result.data if isinstance(result.data, dict) else {}
    return data.get("urn") == READ_ONLY_EXTENSION


@pytest.fixture(params=BACKEND_KINDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    kind = request.param
    if kind == "memory":
        yield "memory"
    elif kind == "sqlite":
        yield str(tmp_path / "conformance.sqlite3")
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[Server]:
    server = Server(["--database", database, "--token", TOKEN], cwd=tmp_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_scim2_tester_finds_no_failure(server: Server) -> None:
    with httpx2.Client(
        base_url=f"{server.base}/scim/v2",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    ) as http:
        client = SyncSCIMClient(http)
        client.discover()

        results = check_server(client)

    failures = [
        f"{r.title}: {r.status.name}: {r.reason}"
        for r in results
        if r.status not in PASSING and not is_read_only_extension_check(r)
    ]
    assert results
    assert failures == []
