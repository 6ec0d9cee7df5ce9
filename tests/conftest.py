from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scim_gateway.backends.base import Backend
from tests.backends import BACKEND_KINDS, open_backend


@pytest.fixture(params=BACKEND_KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def backend(backend_kind: str, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(backend_kind, tmp_path) as opened:
        yield opened
