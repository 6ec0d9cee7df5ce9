"""Nothing secret leaves the gateway: tokens, passwords, internals, other tenants.

Tokens are kept as SHA-256 digests and never logged or echoed; passwords
are accepted and dropped; errors carry no SQL, traceback or file path, and
another tenant's resources answer exactly as resources that do not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from scim_gateway.app import create_app
from scim_gateway.auth import DEFAULT_TENANT, find_tenant, hash_token
from scim_gateway.backends.base import USER, Backend, Query
from scim_gateway.backends.sqlite import SqliteBackend
from scim_gateway.config import Settings
from tests.conftest import TOKEN
from tests.e2e.server import run_cli
from tests.security.answers import check_answer

PASSWORD = "Pa55word-never-kept-7f3a"
WRONG_TOKEN = "wrong-token-5d1c0e9b"


def files_of(database: Path) -> bytes:
    """Every byte SQLite keeps for `database`: the file and its WAL."""
    return b"".join(
        path.read_bytes()
        for path in database.parent.iterdir()
        if path.name.startswith(database.name)
    )


class TestTokens:
    async def test_tokens_never_reach_the_log_at_any_level(
        self,
        client: httpx.AsyncClient,
        anonymous_client: httpx.AsyncClient,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)

        await client.post("/Users", json={"userName": "ann"})
        await client.get("/Users", params={"filter": 'userName eq "ann"'})
        await anonymous_client.get(
            "/Users", headers={"Authorization": f"Bearer {WRONG_TOKEN}"}
        )

        logged = "\n".join(record.getMessage() for record in caplog.records)
        assert "auth_failed reason=unknown_token" in logged
        assert TOKEN not in logged
        assert WRONG_TOKEN not in logged

    async def test_a_rejected_token_is_not_echoed(
        self, anonymous_client: httpx.AsyncClient
    ) -> None:
        response = await anonymous_client.get(
            "/Users", headers={"Authorization": f"Bearer {WRONG_TOKEN}"}
        )

        document = check_answer(response, secrets=[WRONG_TOKEN])
        assert response.status_code == 401
        assert document is not None
        assert document["detail"] == "the bearer token is not valid"
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="scim"'

    def test_issued_tokens_are_stored_only_as_digests(self, tmp_path: Path) -> None:
        database = tmp_path / "gateway.sqlite3"

        issued = run_cli("token", "issue", "--database", str(database))

        token = issued.stdout.strip()
        stored = files_of(database)
        assert issued.returncode == 0, issued.stderr
        assert token.encode() not in stored
        assert hash_token(token).encode() in stored

    def test_a_token_is_compared_with_every_digest_in_constant_time(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Stopping at the first match would tell, by timing, where it is."""
        digests = {hash_token(f"token-{n}"): f"tenant-{n}" for n in range(5)}
        compared: list[tuple[str, str]] = []
        compare = hmac.compare_digest

        def spy(a: str, b: str) -> bool:
            compared.append((a, b))
            return compare(a, b)

        monkeypatch.setattr("scim_gateway.auth.hmac.compare_digest", spy)

        tenant = find_tenant("token-0", digests)

        assert tenant == "tenant-0"
        assert len(compared) == 5
        assert {b for _, b in compared} == {hashlib.sha256(b"token-0").hexdigest()}


class TestPasswords:
    async def test_a_password_is_never_returned(
        self, client: httpx.AsyncClient
    ) -> None:
        created = await client.post(
            "/Users", json={"userName": "ann", "password": PASSWORD}
        )
        user_id = created.json()["id"]
        await client.patch(
            f"/Users/{user_id}",
            json={
                "Operations": [{"op": "replace", "path": "password", "value": PASSWORD}]
            },
        )

        answers = [
            created,
            await client.get(f"/Users/{user_id}"),
            await client.get(f"/Users/{user_id}", params={"attributes": "password"}),
            await client.get("/Users", params={"attributes": "password,userName"}),
            await client.post("/.search", json={"attributes": ["password"]}),
        ]

        assert created.status_code == 201
        for answer in answers:
            assert answer.status_code == 200 or answer is created
            assert PASSWORD not in answer.text
            assert "password" not in answer.text.lower()

    async def test_a_password_is_not_stored(
        self, client: httpx.AsyncClient, backend: Backend, tmp_path: Path
    ) -> None:
        created = await client.post(
            "/Users", json={"userName": "ann", "password": PASSWORD}
        )
        await client.put(
            f"/Users/{created.json()['id']}",
            json={"userName": "ann", "password": PASSWORD + "2"},
        )

        page = await backend.query(DEFAULT_TENANT, USER, Query())
        assert [r.document["userName"] for r in page.resources] == ["ann"]
        assert PASSWORD not in json.dumps([r.document for r in page.resources])
        if isinstance(backend, SqliteBackend):
            assert PASSWORD.encode() not in files_of(tmp_path / "scim.sqlite3")


class Exploding(Exception):
    """An unexpected failure whose message holds what must not leak."""


@pytest.fixture
async def exploding_client(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    async def authenticate(request: Request) -> str:
        raise Exploding("SELECT * FROM resources at /srv/scim/secret.sqlite3")

    app = create_app(
        settings=Settings(database="memory"), backend=backend, authenticate=authenticate
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver/scim/v2"
    ) as http:
        yield http


class TestInternals:
    async def test_an_unexpected_error_is_500_with_only_a_request_id(
        self, exploding_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        response = await exploding_client.get("/Users")

        document = response.json()
        request_id = response.headers["X-Request-ID"]
        assert response.status_code == 500
        assert document["detail"] == (
            f"internal error; quote request id {request_id} to support"
        )
        for hidden in ("SELECT", "/srv/scim", "Traceback", "Exploding"):
            assert hidden not in response.text
        logged = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert logged[0].getMessage().startswith("internal_error")
        assert logged[0].exc_info is not None

    async def test_an_unreadable_database_is_503_without_its_path(
        self, tmp_path: Path
    ) -> None:
        folder = tmp_path / "not-a-database.sqlite3"
        folder.mkdir()
        app = create_app(
            settings=Settings(database="memory"),
            backend=SqliteBackend(folder),
            tokens=TOKEN,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver/scim/v2",
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as http:
            response = await http.get("/Users")

        assert response.status_code == 503
        assert response.headers["Retry-After"].isdigit()
        assert str(tmp_path) not in response.text
        assert "sqlite" not in response.text.lower()


@pytest.fixture
async def two_tenants(backend: Backend) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    app = create_app(
        settings=Settings(database="memory"),
        backend=backend,
        tokens={"token-a": "tenant-a", "token-b": "tenant-b"},
    )
    transport = httpx.ASGITransport(app=app)
    clients = {
        name: httpx.AsyncClient(
            transport=transport,
            base_url="http://testserver/scim/v2",
            headers={"Authorization": f"Bearer token-{name}"},
        )
        for name in ("a", "b")
    }
    yield clients
    for http in clients.values():
        await http.aclose()


class TestTenants:
    async def test_another_tenants_user_answers_as_a_missing_one(
        self, two_tenants: dict[str, httpx.AsyncClient]
    ) -> None:
        a, b = two_tenants["a"], two_tenants["b"]
        theirs = (await a.post("/Users", json={"userName": "ann"})).json()["id"]
        missing = "00000000-0000-4000-8000-000000000000"

        for method in ("GET", "DELETE"):
            found = await b.request(method, f"/Users/{theirs}")
            absent = await b.request(method, f"/Users/{missing}")
            assert found.status_code == absent.status_code == 404
            assert found.json()["detail"] == absent.json()["detail"].replace(
                missing, theirs
            )

    async def test_another_tenants_user_cannot_be_made_a_member(
        self, two_tenants: dict[str, httpx.AsyncClient]
    ) -> None:
        a, b = two_tenants["a"], two_tenants["b"]
        theirs = (await a.post("/Users", json={"userName": "ann"})).json()["id"]

        response = await b.post(
            "/Groups", json={"displayName": "g", "members": [{"value": theirs}]}
        )

        assert response.status_code == 400
        assert response.json()["detail"] == (
            f"members: no user or group with id {theirs}"
        )

    async def test_a_name_taken_in_another_tenant_is_free_here(
        self, two_tenants: dict[str, httpx.AsyncClient]
    ) -> None:
        a, b = two_tenants["a"], two_tenants["b"]
        await a.post("/Users", json={"userName": "ann"})

        created = await b.post("/Users", json={"userName": "ann"})
        listed = await b.get("/Users", params={"filter": 'userName eq "ann"'})

        assert created.status_code == 201
        assert listed.json()["totalResults"] == 1
        assert listed.json()["Resources"][0]["id"] == created.json()["id"]
