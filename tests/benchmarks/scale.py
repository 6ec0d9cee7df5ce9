"""`make bench-scale`: how the gateway holds up from 1,000 to 101,000 users.

For each size it starts `scim-gateway serve` on a fresh database (pinned to
core 0, default INFO logging to a file), loads the users through the API
with the harness's seed.py (timed), puts all but the last 1,000 users (a
tenth of a smaller set) in one big group and the first 10 in a small one,
waits until the server is idle (the invitations of the new users delivered),
records its RSS, then runs wrk (core 1) on:

  filter-userName   GET /Users?filter=userName eq "user{i}@example.test"
  filter-externalId GET /Users?filter=externalId eq "ext-{i:08d}"
  filter-email      GET /Users?filter=emails[type eq "work"].value eq "<e-mail of i>"
  get               GET /Users/{id}
  page-middle       GET /Users?filter=active eq true&startIndex=<users/2>&count=100
  patch-big-group   PATCH /Groups/{id}: add a member to the big group
  patch-small-group PATCH /Groups/{id}: add a member to the group of 10
  post              POST /Users

Environment (defaults):
  BENCH_SCALE=1000,101000          user counts, one server run each
  BENCH_DATABASE=sqlite            or a postgresql:// URL (a new database a run)
  BENCH_HARNESS=../shared/bench    seed.py, scimgen.py, wrk/*.lua
  BENCH_PYTHON=<harness venv>      interpreter for seed.py (aiohttp)
  BENCH_TOKEN=scim-gateway-bench   DURATION=5s WARMUP=1s CONNECTIONS=16
  BENCH_OUT=<new temp folder>      results.tsv, server and seed logs
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.benchmarks.databases import fresh_database, pending_messages
from tests.benchmarks.run import BASE_SUFFIX, EXECUTABLE, REPOSITORY
from tests.benchmarks.workload import (
    Scenario,
    WrkResult,
    add_members,
    run_wrk,
    write_paths,
)

__all__ = ["ScaleConfig", "main"]

SMALL_GROUP = 10
OUTSIDE_BIG_GROUP = 1_000
PORT = 18301


@dataclass(frozen=True)
class ScaleConfig:
    """One `make bench-scale` run, as the environment describes it."""

    sizes: tuple[int, ...]
    database: str | None
    harness: Path
    python: Path
    token: str
    duration: str
    warmup: str
    connections: int
    out: Path | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ScaleConfig:
        harness = Path(
            environ.get("BENCH_HARNESS") or REPOSITORY.parent / "shared/bench"
        ).resolve()
        venv = Path(environ.get("BENCH_VENV") or Path.home() / ".cache/scim-bench-venv")
        out = environ.get("BENCH_OUT")
        return cls(
            sizes=tuple(
                int(n) for n in (environ.get("BENCH_SCALE") or "1000,101000").split(",")
            ),
            database=environ.get("BENCH_DATABASE") or None,
            harness=harness,
            python=Path(environ.get("BENCH_PYTHON") or venv / "bin/python"),
            token=environ.get("BENCH_TOKEN") or "scim-gateway-bench",
            duration=environ.get("DURATION") or "5s",
            warmup=environ.get("WARMUP") or "1s",
            connections=int(environ.get("CONNECTIONS") or 16),
            out=Path(out) if out else None,
        )


@dataclass(frozen=True)
class SizeResult:
    """What one server run measured."""

    users: int
    big_group: int
    load_seconds: float
    settle_seconds: float
    rss_after_load_kib: int
    rss_at_end_kib: int
    results: dict[str, WrkResult]


@contextmanager
def served(database: str, token: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`scim-gateway serve` on core 0 until the block ends; stopped by its pid."""
    command = [
        "taskset",
        "-c",
        "0",
        str(EXECUTABLE),
        "serve",
        "--port",
        str(PORT),
        "--token",
        token,
        "--database",
        database,
        "--log-level",
        "INFO",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_ready(process, token)
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], token: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("scim-gateway serve exited at start")
        probe = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5"]
            + ["-H", f"Authorization: Bearer {token}", f"{base_url()}/Users?count=1"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout == "200":
            return
        time.sleep(0.5)
    raise RuntimeError("scim-gateway serve did not answer within 60 s")


def base_url() -> str:
    return f"http://127.0.0.1:{PORT}{BASE_SUFFIX}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, database: str, *, limit: float = 600.0) -> float:
    """Seconds until the server is idle (under 5 % of a core for a second)
    with no outbox message left to deliver.

    Every user loaded is invited, and the outbox worker delivers the
    invitations after their requests: measuring before it is done would
    measure the deliveries too.
    """
    started = time.monotonic()
    before = cpu_seconds(pid)
    while time.monotonic() - started < limit:
        time.sleep(1.0)
        now = cpu_seconds(pid)
        if now - before < 0.05 and pending_messages(database) == 0:
            break
        before = now
    return time.monotonic() - started


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def seed(config: ScaleConfig, users: int, big_group: int, data: Path) -> float:
    """Load the users and groups through the API; the seconds the users took."""
    log = data.with_suffix(".seed.log")
    command = [
        "taskset",
        "-c",
        "1",
        str(config.python),
        str(config.harness / "seed.py"),
        base_url(),
        config.token,
        "--users",
        str(users),
        "--groups",
        "2",
        "--members",
        str(big_group),
        "--out",
        str(data),
    ]
    with log.open("w") as output:
        subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=True)
    found = re.search(r"users ok in ([0-9.]+) s", log.read_text())
    return float(found[1]) if found else float("nan")


def measure(config: ScaleConfig, users: int, folder: Path) -> SizeResult:
    big_group = users - min(OUTSIDE_BIG_GROUP, users // 10)
    data = folder / f"data-{users}"
    with (
        fresh_database(config.database, folder) as database,
        served(database, config.token, folder / f"serve-{users}.log") as server,
    ):
        load_seconds = seed(config, users, big_group, data)
        user_ids = (data / "user_ids.txt").read_text().split()
        big_id, small_id = (data / "group_ids.txt").read_text().split()[:2]
        add_members(base_url(), config.token, small_id, user_ids[:SMALL_GROUP])
        settle_seconds = settle(server.pid, database)
        rss_after_load = rss_kib(server.pid)
        paths = write_paths(config.harness, users, data)
        results = {
            scenario.name: run_wrk(
                scenario,
                base_url(),
                data,
                harness=config.harness,
                token=config.token,
                users=users,
                duration=config.duration,
                warmup=config.warmup,
                connections=config.connections,
            )
            for scenario in scenarios(config, paths, big_id, small_id, big_group)
        }
        return SizeResult(
            users,
            big_group,
            load_seconds,
            settle_seconds,
            rss_after_load,
            rss_kib(server.pid),
            results,
        )


def scenarios(
    config: ScaleConfig,
    paths: dict[str, Path],
    big_id: str,
    small_id: str,
    big_group: int,
) -> list[Scenario]:
    harness_wrk = config.harness / "wrk"
    ours = Path(__file__).with_name("wrk") / "paths.lua"

    def listed(name: str) -> Scenario:
        return Scenario(name, ours, {"BENCH_PATHS": str(paths[name])})

    return [
        listed("filter-userName"),
        listed("filter-externalId"),
        listed("filter-email"),
        Scenario("get", harness_wrk / "get.lua", {}),
        listed("page-middle"),
        Scenario(
            "patch-big-group",
            harness_wrk / "patch.lua",
            {"BENCH_GROUP_ID": big_id, "BENCH_MEMBERS": str(big_group)},
        ),
        Scenario(
            "patch-small-group",
            harness_wrk / "patch.lua",
            {"BENCH_GROUP_ID": small_id, "BENCH_MEMBERS": str(SMALL_GROUP)},
        ),
        Scenario("post", harness_wrk / "post.lua", {}),
    ]


def report(sizes: list[SizeResult]) -> str:
    lines = ["scenario            " + "".join(f"{s.users:>14,} users" for s in sizes)]
    for name in sizes[0].results:
        cells = "".join(
            f"{s.results[name].rps:>9.0f}/s p99 {s.results[name].p99_ms:>5.0f}"
            for s in sizes
        )
        lines.append(f"{name:<20}{cells}")
    for s in sizes:
        lines.append(
            f"{s.users:,} users: loaded in {s.load_seconds:.0f} s "
            f"({s.users / s.load_seconds:.0f}/s), idle {s.settle_seconds:.0f} s later, "
            f"RSS {s.rss_after_load_kib // 1024} MiB after loading, "
            f"{s.rss_at_end_kib // 1024} MiB at the end"
        )
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        for name in ("filter-userName", "filter-externalId", "filter-email", "get"):
            ratio = large.results[name].rps / small.results[name].rps
            lines.append(
                f"{name}: {large.users:,} vs {small.users:,} users {ratio:.2f}"
            )
    for s in sizes:
        ratio = s.results["patch-big-group"].rps / s.results["patch-small-group"].rps
        lines.append(
            f"member add, group of {s.big_group:,} vs {SMALL_GROUP} "
            f"({s.users:,} users): {ratio:.2f}"
        )
    return "\n".join(lines)


def main() -> int:
    config = ScaleConfig.from_env(os.environ)
    folder = config.out or Path(tempfile.mkdtemp(prefix="scim-gateway-scale."))
    folder.mkdir(parents=True, exist_ok=True)
    sizes = [measure(config, users, folder) for users in config.sizes]
    with (folder / "results.tsv").open("w") as out:
        out.write("users\tscenario\trps\tp50_ms\tp99_ms\tnon2xx\tsocket_errors\n")
        for size in sizes:
            for name, r in size.results.items():
                out.write(
                    f"{size.users}\t{name}\t{r.rps}\t{r.p50_ms}\t{r.p99_ms}"
                    f"\t{r.non2xx}\t{r.socket_errors}\n"
                )
    print(report(sizes))
    print(f"bench-scale: results in {folder}")
    failed = any(r.non2xx or r.socket_errors for s in sizes for r in s.results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
