"""The load of the scale benchmark: request lists, wrk runs and their results."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = ["Scenario", "WrkResult", "add_members", "run_wrk", "write_paths"]

# Lookups are drawn from this many users spread over the whole set.
SAMPLE = 10_000


@dataclass(frozen=True)
class Scenario:
    """A wrk script and the environment it needs beside the common one."""

    name: str
    script: Path
    env: dict[str, str]


@dataclass(frozen=True)
class WrkResult:
    """The BENCH line of the harness's common.lua."""

    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    requests: int
    socket_errors: int

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        lines = [line for line in output.splitlines() if line.startswith("BENCH\t")]
        if not lines:
            raise RuntimeError(f"wrk printed no BENCH line:\n{output[-2000:]}")
        fields = lines[-1].split("\t")
        return cls(
            float(fields[1]),
            float(fields[2]),
            float(fields[3]),
            int(fields[4]),
            int(fields[5]),
            int(fields[6]),
        )


def write_paths(harness: Path, users: int, folder: Path) -> dict[str, Path]:
    """Files of request paths for wrk/paths.lua: three lookups and a mid page."""
    sys.path.insert(0, str(harness))
    scimgen: Any = importlib.import_module("scimgen")  # the harness's generator

    step = max(users // SAMPLE, 1)
    sample = range(0, users, step)
    filters: dict[str, Callable[[int], str]] = {
        "filter-userName": lambda i: f'userName eq "{scimgen.user_name(i)}"',
        "filter-externalId": lambda i: f'externalId eq "ext-{i:08d}"',
        "filter-email": lambda i: (
            'emails[type eq "work"].value eq '
            f'"{scimgen.make_user(i)["emails"][0]["value"]}"'
        ),
    }
    paths: dict[str, Path] = {}
    for name, make in filters.items():
        path = folder / f"{name}.txt"
        lines = (f"/Users?filter={quote(make(i), safe='')}" for i in sample)
        path.write_text("\n".join(lines) + "\n")
        paths[name] = path
    middle = folder / "page-middle.txt"
    query = quote("active eq true", safe="")
    middle.write_text(f"/Users?filter={query}&startIndex={users // 2}&count=100\n")
    paths["page-middle"] = middle
    return paths


def run_wrk(
    scenario: Scenario,
    base: str,
    data: Path,
    *,
    harness: Path,
    token: str,
    users: int,
    duration: str,
    warmup: str,
    connections: int,
) -> WrkResult:
    """A warm-up run, then the measured one; each drained by one GET after it."""
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_USERS": str(users),
        "BENCH_IDS": str(data / "user_ids.txt"),
        "BENCH_COMMON": str(harness / "wrk/common.lua"),
        **scenario.env,
    }
    probe = f"{base}/Users/{(data / 'user_ids.txt').read_text().split()[0]}"
    outputs = []
    for length, tag in ((warmup, "w"), (duration, "")):
        env["BENCH_RUN_ID"] = f"{scenario.name}-{os.getpid()}-{length}{tag}"
        command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}"]
        command += [f"-d{length}", "--timeout", "30s", "-s", str(scenario.script), base]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, check=False
        )
        outputs.append(done.stdout + done.stderr)
        _drain(probe, token)
    return WrkResult.parse(outputs[-1])


def _drain(url: str, token: str) -> None:
    # wrk stops with requests in flight; one more request waits behind them.
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=120):
        pass


def add_members(base: str, token: str, group_id: str, member_ids: list[str]) -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "add",
                "path": "members",
                "value": [{"value": member_id} for member_id in member_ids],
            }
        ],
    }
    request = urllib.request.Request(
        f"{base}/Groups/{group_id}",
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/scim+json",
        },
    )
    with urllib.request.urlopen(request, timeout=60):
        pass
