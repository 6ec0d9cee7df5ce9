"""SIGKILL in the middle of a stream of writes loses no acknowledged write.

Eight clients create users, patch several attributes at once and change
group memberships against a real `scim-gateway serve`; once enough writes
are acknowledged the process is killed with SIGKILL while requests are in
flight. A new process on the same database must serve every acknowledged
write, every PATCH whole, and no membership that points at nothing.
"""

from __future__ import annotations

import signal
from pathlib import Path

import anyio
import httpx
import pytest

from tests.e2e.server import Server
from tests.load.entra import Client, Ledger, Outcome, check_ledger, make_groups
from tests.load.serving import TOKEN, database_for, orphans, start

WRITERS = 8
KILL_AFTER = 150
WRITES = {"create": 3, "patch": 3, "join": 3, "leave": 1}


async def write_until_killed(server: Server) -> tuple[Ledger, Outcome]:
    """Write from several clients; SIGKILL the server after KILL_AFTER writes."""
    base = f"{server.base}/scim/v2"
    ledger, outcome = Ledger(), Outcome()
    groups = await make_groups(base, TOKEN, 3, ledger)
    killed_with: list[int] = []

    async def write(number: int) -> None:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as http:
            client = Client(number, http, groups, ledger, outcome, steps=WRITES)
            while True:
                try:
                    await client.step()
                except httpx.TransportError as exc:
                    outcome.errors.append(repr(exc))
                    return
                if ledger.writes >= KILL_AFTER and not killed_with:
                    # The other writers are all waiting on answers now.
                    server.process.send_signal(signal.SIGKILL)
                    killed_with.append(outcome.in_flight)

    async with anyio.create_task_group() as tasks:
        for number in range(WRITERS):
            tasks.start_soon(write, number)
    server.process.wait()
    outcome.in_flight = killed_with[0]
    return ledger, outcome


@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_sigkill_mid_stream_loses_no_acknowledged_write(
    kind: str, tmp_path: Path
) -> None:
    with database_for(kind, tmp_path) as database:
        first = start(database, tmp_path)
        try:
            ledger, outcome = anyio.run(write_until_killed, first)
        finally:
            first.stop()
        second = start(database, tmp_path)
        try:
            problems = anyio.run(check_ledger, f"{second.base}/scim/v2", TOKEN, ledger)
        finally:
            second.stop()
        left = orphans(database)

    assert first.process.returncode == -signal.SIGKILL
    assert outcome.server_errors == 0
    assert len(outcome.errors) == WRITERS
    assert outcome.in_flight >= 1, "the kill came while requests were in flight"
    assert ledger.writes >= KILL_AFTER
    assert problems == []
    assert left == 0
