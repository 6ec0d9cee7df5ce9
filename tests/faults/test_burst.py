"""A burst of concurrent Entra traffic against a real gateway: no 5xx, no lost write.

This is the bounded run of `make test` (500 requests from 20 clients);
`make burst` sends 5,000 from 50 and prints the latency percentiles that
docs/security.md records.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.load.burst import Burst, burst_against

BOUNDED = Burst(requests=500, clients=20)


@pytest.mark.parametrize(
    "kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_burst_of_entra_traffic_gets_no_5xx_and_loses_no_write(
    kind: str, tmp_path: Path
) -> None:
    outcome = burst_against(kind, tmp_path, BOUNDED)

    assert outcome.server_errors == 0, outcome.summary()
    assert outcome.errors == []
    assert outcome.problems == []
    assert len(outcome.latencies) == BOUNDED.requests
    assert outcome.statuses[201] > 0
    assert set(outcome.statuses) <= {200, 201, 204}
