"""`python -m tests.load.soak`: steady Entra traffic for minutes, memory sampled.

Starts `scim-gateway serve`, sends the mix of tests/load/entra.py at a fixed
rate, samples the server's resident memory (VmRSS) every few seconds, and
compares the end of the run with the end of the warm-up. Exits 1 when the
growth passes the bound, or on any 5xx, transport error or lost write.
`make soak` runs three minutes on SQLite and on Postgres.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx

from tests.e2e.server import Server
from tests.load.entra import Client, Ledger, Outcome, check_ledger, make_groups
from tests.load.serving import KINDS, TOKEN, orphans, served

WORKERS = 8
SAMPLE_EVERY = 5.0


@dataclass(frozen=True)
class Soak:
    seconds: float
    rate: float
    warm_up: float
    max_growth_mb: float


@dataclass
class Memory:
    """RSS samples: (seconds since start, megabytes)."""

    samples: list[tuple[float, float]] = field(default_factory=list)

    def after(self, moment: float) -> list[float]:
        return [mb for at, mb in self.samples if at >= moment]

    def growth(self, warm_up: float) -> float:
        """The last sample minus the first one after the warm-up, in MB."""
        steady = self.after(warm_up) or [mb for _, mb in self.samples]
        return steady[-1] - steady[0]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def drive(server: Server, soak: Soak) -> tuple[Ledger, Outcome, Memory]:
    base = f"{server.base}/scim/v2"
    ledger, outcome, memory = Ledger(), Outcome(), Memory()
    groups = await make_groups(base, TOKEN, 5, ledger)
    started = time.monotonic()
    deadline = started + soak.seconds

    async def worker(number: int) -> None:
        interval = WORKERS / soak.rate
        due = started + number * interval / WORKERS
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        ) as http:
            client = Client(number, http, groups, ledger, outcome)
            while due < deadline:
                await anyio.sleep(max(0.0, due - time.monotonic()))
                due += interval
                try:
                    await client.step()
                except httpx.TransportError as exc:
                    outcome.errors.append(repr(exc))

    async def sample() -> None:
        while time.monotonic() < deadline:
            memory.samples.append(
                (time.monotonic() - started, rss_mb(server.process.pid))
            )
            await anyio.sleep(SAMPLE_EVERY)
        memory.samples.append((time.monotonic() - started, rss_mb(server.process.pid)))

    async with anyio.create_task_group() as tasks:
        for number in range(WORKERS):
            tasks.start_soon(worker, number)
        tasks.start_soon(sample)
    outcome.elapsed = time.monotonic() - started
    return ledger, outcome, memory


def soak_against(kind: str, folder: Path, soak: Soak) -> tuple[Outcome, Memory]:
    """Serve a fresh database of `kind` and soak it; check what was kept."""
    with served(kind, folder) as (server, database):
        ledger, outcome, memory = anyio.run(drive, server, soak)
        outcome.problems = anyio.run(
            check_ledger, f"{server.base}/scim/v2", TOKEN, ledger
        )
        if orphans(database):
            outcome.problems.append("memberships point at no resource")
    return outcome, memory


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.soak")
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--rate", type=float, default=50, help="requests a second")
    parser.add_argument("--warm-up", type=float, default=30)
    parser.add_argument("--max-growth-mb", type=float, default=20)
    parser.add_argument("--database", choices=[*KINDS, "all"], default="all")
    args = parser.parse_args(argv)

    soak = Soak(args.seconds, args.rate, args.warm_up, args.max_growth_mb)
    kinds = KINDS if args.database == "all" else (args.database,)
    failed = False
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="scim-soak-") as folder:
            outcome, memory = soak_against(kind, Path(folder), soak)
        growth = memory.growth(soak.warm_up)
        shown = " ".join(f"{at:.0f}s:{mb:.1f}" for at, mb in memory.samples)
        print(f"{kind}: {outcome.summary()}")
        print(f"  rss_mb {shown}")
        print(
            f"  growth after {soak.warm_up:.0f}s warm-up: {growth:+.1f} MB "
            f"(bound {soak.max_growth_mb:.0f} MB)",
            flush=True,
        )
        for problem in outcome.problems[:20]:
            print(f"  problem: {problem}")
        failed |= growth > soak.max_growth_mb
        failed |= bool(outcome.problems or outcome.errors or outcome.server_errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
