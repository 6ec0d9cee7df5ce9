"""The requests of an Entra provisioning cycle, sent by many clients, then checked.

Each client owns its users: it looks one up, creates it, reads it, patches
several attributes in one request, adds it to and removes it from groups
that every client shares, and sometimes deletes it, as Entra's provisioning
threads do. Every acknowledged write is recorded, so that afterwards every
201 can be read back, every membership change is present, and every PATCH
is found whole (its attributes all carry the same mark).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# The share of each step in the mix, as Entra's cycles have it: many reads
# and user patches, fewer creates, membership changes and deletes.
STEPS = {
    "lookup": 3,
    "create": 3,
    "read": 2,
    "patch": 3,
    "join": 3,
    "leave": 1,
    "group_read": 1,
    "delete": 1,
}


@dataclass
class Ledger:
    """What the gateway acknowledged, as the clients saw it."""

    users: dict[str, str] = field(default_factory=dict)
    marks: dict[str, int] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    members: dict[str, set[str]] = field(default_factory=dict)
    # (group, user) pairs of membership changes sent but not answered: a
    # request cut off by a crash may or may not have been applied.
    uncertain: set[tuple[str, str]] = field(default_factory=set)
    writes: int = 0


@dataclass
class Outcome:
    """Statuses and latencies of every request, and what the check found."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    in_flight: int = 0

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def percentile(self, share: float) -> float:
        """The latency (seconds) below which `share` of the requests finished."""
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def summary(self) -> str:
        rate = len(self.latencies) / self.elapsed if self.elapsed else 0.0
        return (
            f"requests={len(self.latencies)} seconds={self.elapsed:.1f} "
            f"rate={rate:.0f}/s p50={self.percentile(0.5) * 1000:.1f}ms "
            f"p95={self.percentile(0.95) * 1000:.1f}ms "
            f"p99={self.percentile(0.99) * 1000:.1f}ms "
            f"max={max(self.latencies, default=0) * 1000:.1f}ms "
            f"5xx={self.server_errors} transport_errors={len(self.errors)} "
            f"problems={len(self.problems)} "
            f"statuses={dict(sorted(self.statuses.items()))}"
        )


class Client:
    """One provisioning thread: its own connection, users and random steps."""

    def __init__(
        self,
        number: int,
        http: httpx.AsyncClient,
        groups: list[str],
        ledger: Ledger,
        outcome: Outcome,
        *,
        steps: dict[str, int] | None = None,
    ) -> None:
        self.number = number
        self.steps = steps or STEPS
        self.http = http
        self.groups = groups
        self.ledger = ledger
        self.outcome = outcome
        self.random = random.Random(number)
        self.mine: list[str] = []
        self.created = 0

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        self.outcome.in_flight += 1
        response = await self.http.request(method, path, **kwargs)
        self.outcome.in_flight -= 1
        self.outcome.latencies.append(time.perf_counter() - started)
        self.outcome.statuses[response.status_code] += 1
        return response

    async def step(self) -> None:
        names, weights = zip(*self.steps.items(), strict=True)
        step = self.random.choices(names, weights)[0]
        if not self.mine and step not in ("lookup", "create", "group_read"):
            step = "create"
        await getattr(self, step)()

    def _name(self) -> str:
        return f"client{self.number}.user{self.created}@example.com"

    async def lookup(self) -> None:
        name = f"client{self.number}.user{self.created}@example.com"
        await self.send("GET", "/Users", params={"filter": f'userName eq "{name}"'})

    async def create(self) -> None:
        name = self._name()
        self.created += 1
        body = {
            "schemas": [USER],
            "userName": name,
            "externalId": name.split("@")[0],
            "active": True,
            "displayName": "d0",
            "title": "t0",
            "emails": [{"type": "work", "value": name, "primary": True}],
        }
        response = await self.send("POST", "/Users", json=body)
        if response.status_code == 201:
            user_id = response.json()["id"]
            self.mine.append(user_id)
            self.ledger.users[user_id] = name
            self.ledger.marks[user_id] = 0
            self.ledger.writes += 1

    async def read(self) -> None:
        await self.send("GET", f"/Users/{self.random.choice(self.mine)}")

    async def patch(self) -> None:
        user_id = self.random.choice(self.mine)
        mark = self.ledger.marks[user_id] + 1
        operations = [
            {"op": "Replace", "path": "displayName", "value": f"d{mark}"},
            {"op": "Replace", "path": "title", "value": f"t{mark}"},
            {"op": "Replace", "path": "active", "value": "True"},
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": self.ledger.users[user_id],
            },
        ]
        response = await self.send(
            "PATCH",
            f"/Users/{user_id}",
            json={"schemas": [PATCH_OP], "Operations": operations},
        )
        if response.status_code in (200, 204):
            self.ledger.marks[user_id] = mark
            self.ledger.writes += 1

    async def join(self) -> None:
        await self._membership("Add", self.random.choice(self.groups))

    async def leave(self) -> None:
        joined = [g for g in self.groups if self._is_member(g)]
        if not joined:
            await self.join()
            return
        await self._membership("Remove", self.random.choice(joined))

    def _is_member(self, group_id: str) -> bool:
        return any(u in self.ledger.members[group_id] for u in self.mine)

    async def _membership(self, op: str, group_id: str) -> None:
        members = self.ledger.members[group_id]
        if op == "Add":
            chosen = self.random.sample(self.mine, min(2, len(self.mine)))
        else:
            chosen = [u for u in self.mine if u in members][:1]
        value = [{"$ref": None, "value": user_id} for user_id in chosen]
        operation = {"op": op, "path": "members", "value": value}
        pairs = {(group_id, user_id) for user_id in chosen}
        self.ledger.uncertain |= pairs
        response = await self.send(
            "PATCH",
            f"/Groups/{group_id}",
            json={"schemas": [PATCH_OP], "Operations": [operation]},
        )
        if response.status_code not in (200, 204):
            return
        self.ledger.uncertain -= pairs
        self.ledger.writes += 1
        if op == "Add":
            members.update(chosen)
        else:
            members.difference_update(chosen)

    async def group_read(self) -> None:
        group_id = self.random.choice(self.groups)
        await self.send(
            "GET", f"/Groups/{group_id}", params={"excludedAttributes": "members"}
        )

    async def delete(self) -> None:
        user_id = self.mine.pop(self.random.randrange(len(self.mine)))
        response = await self.send("DELETE", f"/Users/{user_id}")
        if response.status_code == 204:
            self.ledger.deleted.add(user_id)
            for members in self.ledger.members.values():
                members.discard(user_id)


def _client(base_url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


async def make_groups(
    base_url: str, token: str, count: int, ledger: Ledger
) -> list[str]:
    groups: list[str] = []
    async with _client(base_url, token) as http:
        for number in range(count):
            response = await http.post(
                "/Groups", json={"schemas": [GROUP], "displayName": f"Group {number}"}
            )
            response.raise_for_status()
            groups.append(response.json()["id"])
            ledger.members[groups[-1]] = set()
    return groups


async def run_burst(
    base_url: str, token: str, *, requests: int, clients: int, groups: int = 5
) -> tuple[Ledger, Outcome]:
    """Send `requests` requests from `clients` concurrent clients; no checks yet."""
    ledger, outcome = Ledger(), Outcome()
    group_ids = await make_groups(base_url, token, groups, ledger)
    remaining = requests

    async def run(number: int) -> None:
        nonlocal remaining
        async with _client(base_url, token) as http:
            client = Client(number, http, group_ids, ledger, outcome)
            while remaining > 0:
                remaining -= 1
                try:
                    await client.step()
                except httpx.TransportError as exc:
                    outcome.errors.append(f"client {number}: {exc!r}")

    started = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for number in range(clients):
            tasks.start_soon(run, number)
    outcome.elapsed = time.perf_counter() - started
    return ledger, outcome


async def check_ledger(base_url: str, token: str, ledger: Ledger) -> list[str]:
    """Everything acknowledged is there: users, whole patches, memberships."""
    problems: list[str] = []
    async with _client(base_url, token) as http:
        for user_id, name in ledger.users.items():
            response = await http.get(f"/Users/{user_id}")
            problems += _user_problems(user_id, name, ledger, response)
        for group_id, expected in ledger.members.items():
            response = await http.get(f"/Groups/{group_id}")
            found = {m["value"] for m in response.json().get("members", [])}
            unsure = {u for g, u in ledger.uncertain if g == group_id}
            if found - unsure != expected - unsure:
                problems.append(
                    f"group {group_id}: missing {sorted(expected - found)}, "
                    f"unexpected {sorted(found - expected)}"
                )
    return problems


def _user_problems(
    user_id: str, name: str, ledger: Ledger, response: httpx.Response
) -> list[str]:
    if user_id in ledger.deleted:
        return [] if response.status_code == 404 else [f"deleted {name} is back"]
    if response.status_code != 200:
        return [f"user {name} ({user_id}) answered {response.status_code}"]
    document = response.json()
    marks = {_mark(document.get("displayName")), _mark(document.get("title"))}
    acknowledged = ledger.marks[user_id]
    # A mark above the acknowledged one comes from a PATCH whose answer was
    # lost; a whole PATCH leaves both attributes on one mark.
    if len(marks) != 1 or min(marks) < acknowledged:
        shown = (document.get("displayName"), document.get("title"))
        return [f"user {name}: displayName/title {shown}, acknowledged {acknowledged}"]
    return []


def _mark(value: object) -> int:
    """The number in "d7" or "t7"; -1 for anything else."""
    if isinstance(value, str) and value[1:].isdigit():
        return int(value[1:])
    return -1
