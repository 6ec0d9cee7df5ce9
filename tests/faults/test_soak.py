"""The soak of `make soak`, for a few seconds: it runs, samples and checks."""

from __future__ import annotations

from pathlib import Path

from tests.load.soak import Soak, soak_against


def test_a_short_soak_samples_memory_and_loses_nothing(tmp_path: Path) -> None:
    outcome, memory = soak_against(
        "sqlite", tmp_path, Soak(seconds=3, rate=30, warm_up=1, max_growth_mb=20)
    )

    assert outcome.server_errors == 0, outcome.summary()
    assert outcome.errors == []
    assert outcome.problems == []
    assert len(outcome.latencies) >= 60
    assert len(memory.samples) >= 2
    assert all(mb > 0 for _, mb in memory.samples)
