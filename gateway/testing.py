"""A pytest plugin: a fresh gateway per test, on memory, SQLite or Postgres.

Installed with the package (entry point `pytest11`), it is active in any
project that has scim-gateway and pytest-asyncio installed. Fixtures:

- `scim_backend_kind`: `memory`, `sqlite` or `postgres`; tests run once per
  kind that `--scim-backend` names (or the `scim_backend` ini option), or per
  kind a `@pytest.mark.parametrize("scim_backend_kind", [...])` gives.
- `scim_backend`: an opened, empty backend of that kind.
- `scim_settings`: the gateway's `Settings`; override it to change any.
- `scim_tenant`: a new tenant with its own bearer token, for each test.
- `scim_app`: the gateway as an ASGI app.
- `scim_client`: an `httpx.AsyncClient` for it, at the SCIM base URL,
  sending the tenant's token.
- `scim_seed`: `ScimSeeder`, to create users and groups through the API.

docs/testing.md shows them in use.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import pytest

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

    from scim_gateway.backends.base import Backend
    from scim_gateway.config import Settings

# The gateway's own modules are imported where used: pytest loads this plugin
# before coverage starts, and whatever it imports then counts as never run.

__all__ = [
    "BACKEND_KINDS",
    "ScimSeeder",
    "ScimTenant",
    "client_for",
    "create_tenant",
    "open_backend",
]

BACKEND_KINDS = ("memory", "sqlite", "postgres")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL_VARIABLE = "SCIM_GATEWAY_TEST_POSTGRES"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

F = TypeVar("F", bound=Callable[..., Any])


def _async_fixture(function: F) -> F:
    """`pytest_asyncio.fixture`, or a fixture that says pytest-asyncio is missing.

    The plugin loads wherever scim-gateway is installed, so its import must
    not fail in a project that never uses it.
    """
    try:
        import pytest_asyncio
    except ImportError:

        def missing() -> NoReturn:
            pytest.fail(
                f"{function.__name__} needs pytest-asyncio: "
                "pip install 'scim-gateway[testing]'",
                pytrace=False,
            )

        # pytest registers fixtures by name; what the decorator returns is
        # pytest's own wrapper, typed here as what it stands in for.
        return cast(F, pytest.fixture(name=function.__name__)(missing))
    return cast(F, pytest_asyncio.fixture(function))


@dataclass(frozen=True)
class ScimTenant:
    """A tenant made for one test, with the bearer token that selects it."""

    id: str
    token: str

    def __repr__(self) -> str:
        return f"ScimTenant(id={self.id!r}, token=<hidden>)"


class ScimSeeder:
    """Creates users and groups through the SCIM API, as a client would.

    Each method returns the created resource as the gateway answered it,
    `id` and `meta` included.

    Raises:
        RuntimeError: the gateway refused the resource; the message holds
            its answer.
    """

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def user(self, user_name: str, **attributes: Any) -> dict[str, Any]:
        """A user; `attributes` are SCIM attributes (`active=False`, `emails=[...]`)."""
        body = {"schemas": [USER_SCHEMA], "userName": user_name, **attributes}
        return await self._create("Users", body)

    async def users(self, count: int, *, prefix: str = "user") -> list[dict[str, Any]]:
        """`count` users named `<prefix>1@example.com`, `<prefix>2@...`, in order."""
        return [
            await self.user(f"{prefix}{n}@example.com") for n in range(1, count + 1)
        ]

    async def group(
        self,
        display_name: str,
        *,
        members: Sequence[str | Mapping[str, Any]] = (),
        **attributes: Any,
    ) -> dict[str, Any]:
        """A group; `members` are ids or resources returned by this seeder."""
        body = {
            "schemas": [GROUP_SCHEMA],
            "displayName": display_name,
            "members": [{"value": _member_id(member)} for member in members],
            **attributes,
        }
        return await self._create("Groups", body)

    async def _create(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(endpoint, json=body)
        if response.status_code != 201:
            raise RuntimeError(
                f"seeding {endpoint} failed with {response.status_code}: "
                f"{response.text}"
            )
        created: dict[str, Any] = response.json()
        return created


async def create_tenant(backend: Backend, tenant: str | None = None) -> ScimTenant:
    """Create a tenant (a fresh id by default) and give it a new bearer token.

    Raises:
        TypeError: the backend keeps no tenants (`CredentialStore`).
    """
    from scim_gateway.auth import generate_token, hash_token
    from scim_gateway.backends.credentials import CredentialStore

    if not isinstance(backend, CredentialStore):
        raise TypeError(f"the {backend.name} backend stores no tenants or tokens")
    tenant = tenant or f"t-{uuid.uuid4().hex[:12]}"
    token = generate_token()
    await backend.create_tenant(tenant)
    await backend.add_token(tenant, hash_token(token), label="pytest")
    return ScimTenant(tenant, token)


def client_for(
    app: Starlette, tenant: ScimTenant, *, base_path: str = "/scim/v2"
) -> httpx.AsyncClient:
    """An HTTP client for `app` at its SCIM base URL, sending `tenant`'s token."""
    import httpx

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=f"http://testserver{base_path}/",
        headers={"Authorization": f"Bearer {tenant.token}"},
    )


@asynccontextmanager
async def open_backend(
    kind: str, directory: Path, *, postgres_url: str = DEFAULT_POSTGRES_URL
) -> AsyncIterator[Backend]:
    """An opened, empty backend of `kind`, closed (and its data dropped) after.

    SQLite keeps its file in `directory`; Postgres works in a schema of its
    own in the `postgres_url` database, dropped afterwards.

    Raises:
        ValueError: `kind` is none of `BACKEND_KINDS`.
    """
    async with _new_backend(kind, directory, postgres_url) as backend:
        await backend.open()
        try:
            yield backend
        finally:
            await backend.close()


@asynccontextmanager
async def _new_backend(
    kind: str, directory: Path, postgres_url: str
) -> AsyncIterator[Backend]:
    if kind == "memory":
        from scim_gateway.backends.memory import MemoryBackend

        yield MemoryBackend()
    elif kind == "sqlite":
        from scim_gateway.backends.sqlite import SqliteBackend

        yield SqliteBackend(directory / "scim-gateway.sqlite3")
    elif kind == "postgres":
        from scim_gateway.backends.postgres import PostgresBackend

        async with _postgres_schema(postgres_url) as schema:
            yield PostgresBackend(postgres_url, schema=schema)
    else:
        raise ValueError(f"unknown backend kind {kind!r}; use one of {BACKEND_KINDS}")


@asynccontextmanager
async def _postgres_schema(url: str) -> AsyncIterator[str]:
    import asyncpg

    schema = f"scim_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
        yield schema
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


def _member_id(member: str | Mapping[str, Any]) -> str:
    return member if isinstance(member, str) else str(member["id"])


# The pytest hooks and fixtures.


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scim-gateway")
    group.addoption(
        "--scim-backend",
        dest="scim_backend",
        default=None,
        help="backends the scim_* fixtures run on: memory (default), sqlite, "
        "postgres, several separated by commas, or all",
    )
    group.addoption(
        "--scim-postgres-url",
        dest="scim_postgres_url",
        default=None,
        help=f"database for the postgres kind (default ${POSTGRES_URL_VARIABLE}, "
        f"else {DEFAULT_POSTGRES_URL})",
    )
    parser.addini("scim_backend", "default of --scim-backend", default="memory")
    parser.addini("scim_postgres_url", "default of --scim-postgres-url", default="")


def pytest_configure(config: pytest.Config) -> None:
    _backend_kinds(config)  # a misspelt kind stops the run before any test


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "_scim_backend_choice" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        if "scim_backend_kind" in (
            names.replace(" ", "").split(",") if isinstance(names, str) else names
        ):
            return
    kinds = _backend_kinds(metafunc.config)
    metafunc.parametrize("_scim_backend_choice", kinds, indirect=True, ids=kinds)


@pytest.fixture
def _scim_backend_choice(request: pytest.FixtureRequest) -> str:
    kind: str = getattr(request, "param", "memory")
    return kind


@pytest.fixture
def scim_backend_kind(_scim_backend_choice: str) -> str:
    """The kind of backend this test runs on."""
    return _scim_backend_choice


@_async_fixture
async def scim_backend(
    scim_backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Backend]:
    """An opened, empty backend of `scim_backend_kind`, dropped after the test."""
    if scim_backend_kind == "postgres":
        await _check_postgres(request.config)
    async with open_backend(
        scim_backend_kind, tmp_path, postgres_url=_postgres_url(request.config)
    ) as backend:
        yield backend


@pytest.fixture
def scim_settings() -> Settings:
    """The gateway's settings: the defaults, not `SCIM_GATEWAY_*` variables."""
    from scim_gateway.config import Settings

    return Settings(database="memory")


@_async_fixture
async def scim_tenant(scim_backend: Backend) -> ScimTenant:
    """A tenant of its own for this test, with a bearer token."""
    return await create_tenant(scim_backend)


@_async_fixture
async def scim_app(
    scim_backend: Backend, scim_settings: Settings
) -> AsyncIterator[Starlette]:
    """The gateway on `scim_backend`; every token in its store is accepted."""
    from scim_gateway.app import create_app
    from scim_gateway.auth import StoredTokens
    from scim_gateway.backends.credentials import CredentialStore

    if not isinstance(scim_backend, CredentialStore):
        raise TypeError(f"the {scim_backend.name} backend stores no tokens")
    # ttl=0: a token issued during the test counts at its next request.
    app = create_app(
        settings=scim_settings,
        backend=scim_backend,
        authenticate=StoredTokens(scim_backend, ttl=0),
    )
    yield app
    await app.state.gateway.close()


@_async_fixture
async def scim_client(
    scim_app: Starlette, scim_tenant: ScimTenant, scim_settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for `scim_app` at the SCIM base URL, as `scim_tenant`."""
    async with client_for(
        scim_app, scim_tenant, base_path=scim_settings.base_path
    ) as client:
        yield client


@pytest.fixture
def scim_seed(scim_client: httpx.AsyncClient) -> ScimSeeder:
    """Creates users and groups in `scim_tenant` through `scim_client`."""
    return ScimSeeder(scim_client)


def _backend_kinds(config: pytest.Config) -> list[str]:
    spec = config.getoption("scim_backend") or str(config.getini("scim_backend"))
    if spec.strip() == "all":
        return list(BACKEND_KINDS)
    kinds = [kind.strip() for kind in spec.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in BACKEND_KINDS]
    if unknown or not kinds:
        raise pytest.UsageError(
            f"--scim-backend {spec!r}: use {', '.join(BACKEND_KINDS)} or all"
        )
    return list(dict.fromkeys(kinds))


def _postgres_url(config: pytest.Config) -> str:
    return str(
        config.getoption("scim_postgres_url")
        or config.getini("scim_postgres_url")
        or os.environ.get(POSTGRES_URL_VARIABLE)
        or DEFAULT_POSTGRES_URL
    )


async def _check_postgres(config: pytest.Config) -> None:
    """Skip when Postgres is unreachable, unless it was asked for by name."""
    import asyncpg

    url = _postgres_url(config)
    try:
        connection = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL at {url.split('@')[-1]} is not reachable: {exc}"
        spec = config.getoption("scim_backend") or str(config.getini("scim_backend"))
        if "postgres" in spec.split(","):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    await connection.close()
