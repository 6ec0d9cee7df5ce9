"""Replays recorded client scenarios (tests/replay/scenarios) through an HTTP client.

The format is described in scenarios/entra/README.md: steps in order, each
with a request and what the answer must hold; values saved from one answer
are substituted into later steps as `${name}`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

SCENARIOS = Path(__file__).parent / "scenarios"
_VARIABLE = re.compile(r"\$\{(\w+)\}")


def scenario_files() -> list[Path]:
    return sorted(SCENARIOS.glob("*/*.json"))


@dataclass
class StepFailure:
    step: int
    name: str
    problem: str

    def __str__(self) -> str:
        return f"step {self.step} '{self.name}': {self.problem}"


@dataclass
class Replay:
    """One scenario run against `client`, whose base URL is the SCIM base."""

    client: httpx.AsyncClient
    token: str
    variables: dict[str, str] = field(default_factory=dict)

    async def run(self, scenario: dict[str, Any]) -> StepFailure | None:
        for number, step in enumerate(scenario["steps"], 1):
            problem = await self._run_step(step)
            if problem is not None:
                return StepFailure(number, step["name"], problem)
        return None

    async def _run_step(self, step: dict[str, Any]) -> str | None:
        response = await self.client.request(
            step["method"],
            str(self.client.base_url).rstrip("/") + self._fill(step["path"]),
            content=self._body(step),
            headers=self._headers(step),
        )
        expect = step.get("expect", {})
        wanted = expect.get("status")
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if response.status_code not in allowed:
            return (
                f"status {response.status_code}, wanted {wanted}: {response.text[:300]}"
            )
        body = _json_or_none(response)
        problem = self._check(expect, body, response.text)
        if problem is not None:
            return problem
        return self._save(step, body, response.headers)

    def _body(self, step: dict[str, Any]) -> bytes | None:
        if step.get("body") is None:
            return None
        return json.dumps(self._fill(step["body"])).encode()

    def _headers(self, step: dict[str, Any]) -> dict[str, str]:
        headers: dict[str, str] = {}
        auth = step.get("auth", "valid")
        if auth == "valid":
            headers["Authorization"] = f"Bearer {self.token}"
        elif auth == "invalid":
            headers["Authorization"] = "Bearer not-the-right-token"
        if step.get("body") is not None:
            headers["Content-Type"] = "application/scim+json; charset=utf-8"
        headers.update(self._fill(step.get("headers", {})))
        return headers

    def _check(self, expect: dict[str, Any], body: Any, text: str) -> str | None:
        if "json_contains" in expect:
            wanted = self._fill(expect["json_contains"])
            if body is None or not contains(body, wanted):
                return f"body lacks {json.dumps(wanted)[:300]}; got {text[:400]}"
        for path in expect.get("json_absent", []):
            if body is not None and not is_absent(body, path):
                return f"{path} is present; got {text[:400]}"
        for path in expect.get("json_present", []):
            if body is None or is_absent(body, path):
                return f"{path} is missing; got {text[:400]}"
        for rule in expect.get("json_count", []):
            rule = self._fill(rule)
            got = count_matching(body, rule["path"], rule.get("where", {}))
            if got != rule["count"]:
                return f"{got} elements of {rule['path']} match, wanted {rule['count']}"
        return None

    def _save(
        self, step: dict[str, Any], body: Any, headers: httpx.Headers
    ) -> str | None:
        for name, dotted in step.get("save", {}).items():
            try:
                self.variables[name] = str(dig(body, dotted))
            except (KeyError, IndexError, TypeError, ValueError):
                return f"cannot save {name} from {dotted}"
        for name, header in step.get("save_headers", {}).items():
            value = headers.get(header)
            if value is None:
                return f"cannot save {name}: no {header} header"
            self.variables[name] = value
        return None

    def _fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return _VARIABLE.sub(lambda m: self.variables.get(m[1], m[0]), value)
        if isinstance(value, list):
            return [self._fill(item) for item in value]
        if isinstance(value, dict):
            return {key: self._fill(item) for key, item in value.items()}
        return value


def contains(actual: Any, expected: Any) -> bool:
    """Recursive subset test: objects by key, arrays by any element, scalars by type."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value)
            for key, value in expected.items()
        )
    if isinstance(expected, list):
        return isinstance(actual, list) and all(
            any(contains(item, wanted) for item in actual) for wanted in expected
        )
    return type(actual) is type(expected) and bool(actual == expected)


def _follow(node: Any, path: list[str | int]) -> Any:
    for segment in path:
        if isinstance(segment, int):
            if not isinstance(node, list) or segment >= len(node):
                return None
        elif not isinstance(node, dict) or segment not in node:
            return None
        node = node[segment]
    return node


def is_absent(actual: Any, path: list[str | int]) -> bool:
    return _follow(actual, path) in (None, [], {})


def count_matching(actual: Any, path: list[str | int], where: dict[str, Any]) -> int:
    node = _follow(actual, path)
    if not isinstance(node, list):
        return 0
    return sum(1 for item in node if contains(item, where))


def dig(actual: Any, dotted: str) -> Any:
    node = actual
    for segment in dotted.split("."):
        node = node[int(segment)] if isinstance(node, list) else node[segment]
    return node


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
