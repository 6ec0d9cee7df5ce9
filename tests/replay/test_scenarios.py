"""Every recorded client scenario passes on every backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TOKEN
from tests.replay.runner import Replay, scenario_files


def _load(path: Path) -> dict[str, Any]:
    scenario: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return scenario


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(_load(p), id=f"{p.parent.name}/{p.stem}") for p in scenario_files()],
)
async def test_scenario_passes(
    scenario: dict[str, Any], anonymous_client: httpx.AsyncClient
) -> None:
    replay = Replay(anonymous_client, TOKEN)

    failure = await replay.run(scenario)

    assert failure is None, f"{scenario['name']}: {failure}"


def test_every_scenario_folder_is_replayed() -> None:
    folders = {path.parent.name for path in scenario_files()}

    assert folders == {"entra", "idps", "cases"}
