"""`python -m tests.load.burst`: a burst of Entra traffic against a real gateway.

Starts `scim-gateway serve` on a fresh SQLite file and a fresh Postgres
database in turn, sends the mix of tests/load/entra.py from many concurrent
clients, checks that every acknowledged write is there, and prints one line
per database with the latency percentiles. Exits 1 on any 5xx, transport
error or lost write. `make burst` runs 5,000 requests from 50 clients.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from tests.load.entra import Outcome, check_ledger, run_burst
from tests.load.serving import KINDS, TOKEN, orphans, served


@dataclass(frozen=True)
class Burst:
    requests: int
    clients: int
    groups: int = 5


def burst_against(kind: str, folder: Path, burst: Burst) -> Outcome:
    """Serve a fresh database of `kind`, send the burst, check what was kept."""
    with served(kind, folder) as (server, database):
        base = f"{server.base}/scim/v2"
        ledger, outcome = anyio.run(
            lambda: run_burst(
                base,
                TOKEN,
                requests=burst.requests,
                clients=burst.clients,
                groups=burst.groups,
            )
        )
        outcome.problems = anyio.run(check_ledger, base, TOKEN, ledger)
        left = orphans(database)
        if left:
            outcome.problems.append(f"{left} memberships point at no resource")
        logged = server.output()
        if "Traceback" in logged:
            outcome.problems.append("the gateway logged a traceback")
        if TOKEN in logged:
            outcome.problems.append("the gateway logged the token")
    return outcome


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.load.burst")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--database", choices=[*KINDS, "all"], default="all")
    args = parser.parse_args(argv)

    kinds = KINDS if args.database == "all" else (args.database,)
    burst = Burst(args.requests, args.clients)
    failed = False
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="scim-burst-") as folder:
            outcome = burst_against(kind, Path(folder), burst)
        print(f"{kind}: clients={burst.clients} {outcome.summary()}", flush=True)
        for problem in outcome.problems[:20]:
            print(f"  problem: {problem}")
        for error in outcome.errors[:5]:
            print(f"  transport error: {error}")
        failed |= bool(outcome.problems or outcome.errors or outcome.server_errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
