"""`make bench`: `scim-gateway serve` against the harness's limit app.

Drives the shared harness's compare.sh (wrk on pinned cores; it seeds the
gateway over HTTP and prints requests/s, p99 and the ratio to the limit app
per scenario) against a real `scim-gateway serve` on a fresh database, with
the default logging (one INFO access line per request, to compare.sh's
server log file).

Environment (defaults):
  BENCH_HARNESS=../shared/bench   the harness folder, beside this repository
  BENCH_DATABASE=sqlite           sqlite (a new file) or a postgresql:// URL
                                  (a new database bench_<random> on that server)
  BENCH_USERS=10000 BENCH_MEMBERS=5000
  BENCH_SCENARIOS="filter page get patch post"
  BENCH_TOKEN=scim-gateway-bench  the fixed bearer token
  BENCH_OUT=<new temp folder>     results.tsv, results.log, server and seed logs
and the harness's own knobs (DURATION, WARMUP, CONNECTIONS, PORT, ...).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks.databases import fresh_database

__all__ = ["BenchConfig", "main", "server_command"]

REPOSITORY = Path(__file__).resolve().parents[2]
EXECUTABLE = Path(sys.executable).with_name("scim-gateway")
BASE_SUFFIX = "/scim/v2"


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark run, as the environment describes it."""

    harness: Path
    database: str | None
    users: int
    members: int
    scenarios: str
    token: str
    out: Path | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> BenchConfig:
        harness = environ.get("BENCH_HARNESS") or REPOSITORY.parent / "shared/bench"
        out = environ.get("BENCH_OUT")
        return cls(
            harness=Path(harness).resolve(),
            database=environ.get("BENCH_DATABASE") or None,
            users=int(environ.get("BENCH_USERS") or 10_000),
            members=int(environ.get("BENCH_MEMBERS") or 5_000),
            scenarios=environ.get("BENCH_SCENARIOS") or "filter page get patch post",
            token=environ.get("BENCH_TOKEN") or "scim-gateway-bench",
            out=Path(out) if out else None,
        )


def server_command(executable: Path, database: str) -> str:
    """The command compare.sh runs under `bash -c`, with HOST, PORT and TOKEN set."""
    return (
        f"exec {shlex.quote(str(executable))} serve --host $HOST --port $PORT "
        f"--token $TOKEN --database {shlex.quote(database)} --log-level INFO"
    )


def compare(config: BenchConfig, database: str, out: Path) -> int:
    """Run compare.sh once; its output goes to this terminal, its files to `out`."""
    script = config.harness / "compare.sh"
    if not script.is_file():
        print(f"bench: no harness at {script} (set BENCH_HARNESS)", file=sys.stderr)
        return 2
    environ = {
        **os.environ,
        "BASE_SUFFIX": BASE_SUFFIX,
        "USERS": str(config.users),
        "MEMBERS": str(config.members),
        "SCENARIOS": config.scenarios,
        "TOKEN": config.token,
        "NAME": "gateway",
        "OUT": str(out),
    }
    command = [str(script), server_command(EXECUTABLE, database)]
    return subprocess.run(command, env=environ, check=False).returncode


def main() -> int:
    config = BenchConfig.from_env(os.environ)
    folder = config.out or Path(tempfile.mkdtemp(prefix="scim-gateway-bench."))
    folder.mkdir(parents=True, exist_ok=True)
    with fresh_database(config.database, folder) as database:
        status = compare(config, database, folder / "results")
    print(f"bench: results in {folder / 'results'} (exit status {status})")
    return status


if __name__ == "__main__":
    sys.exit(main())
