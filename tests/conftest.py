from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase
from starlette.applications import Starlette

from scim_gateway.app import create_app
from scim_gateway.backends.base import Backend
from scim_gateway.config import Settings
from tests.backends import BACKEND_KINDS, open_backend

# pytester runs the pytest plugin (scim_gateway.testing) in projects of its own.
pytest_plugins = ["pytester"]

# Property tests share one backend across examples (state builds up, as in a
# real service) and answer at the speed of a shared machine: hence the
# suppressed health checks and no deadline. `bounded` (make test) runs the
# same few examples every time; `fuzz` (make fuzz) runs many, keeping any
# failing example under build/ to replay it first next time.
_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
hypothesis_settings.register_profile(
    "bounded",
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_QUIET,
)
hypothesis_settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")),
    deadline=None,
    database=DirectoryBasedExampleDatabase(
        Path(__file__).resolve().parents[1] / "build" / "hypothesis"
    ),
    suppress_health_check=_QUIET,
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "bounded"))


@pytest.fixture(params=BACKEND_KINDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def backend(backend_kind: str, tmp_path: Path) -> AsyncIterator[Backend]:
    async with open_backend(backend_kind, tmp_path) as opened:
        yield opened


TOKEN = "test-token-0123456789"


@pytest.fixture
def settings() -> Settings:
    return Settings(token=None, database="memory")


@pytest.fixture
def app(backend: Backend, settings: Settings) -> Starlette:
    return create_app(settings=settings, backend=backend, tokens=TOKEN)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app, authenticated, based at the SCIM base URL."""
    async with _client_for(app, {"Authorization": f"Bearer {TOKEN}"}) as http:
        yield http


@pytest.fixture
async def anonymous_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app that sends no headers of its own."""
    async with _client_for(app, {}) as http:
        yield http


def _client_for(app: Starlette, headers: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/scim/v2",
        headers=headers,
    )
