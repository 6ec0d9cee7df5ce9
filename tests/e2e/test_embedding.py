"""The gateway mounted in Starlette and FastAPI hosts, as docs/embedding.md shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from scim_gateway import (
    ChangeKind,
    GatewayContext,
    MemoryBackend,
    Settings,
    SqliteBackend,
    create_app,
    gateway_lifespan,
)
from tests.docs import code_blocks

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ANN = {"schemas": [USER_SCHEMA], "userName": "ann@example.com", "active": True}


def run_example(index: int) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"embedding_example_{index}"}
    exec(code_blocks("embedding.md")[index], namespace)
    return namespace


@asynccontextmanager
async def serving(app: Starlette, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    """The host app with its lifespan running, and a client for it."""
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers=headers,
        ) as client:
            yield client


def gateway(app: Starlette) -> GatewayContext:
    context = app.state.gateway
    assert isinstance(context, GatewayContext)
    return context


class TestStarletteHost:
    async def test_locations_name_the_mount_prefix(self) -> None:
        example = run_example(0)
        token = "acme-secret-token-0123456789"

        async with serving(example["app"], authorization=f"Bearer {token}") as http:
            created = await http.post("/scim/v2/Users", json=ANN)
            read = await http.get(f"/scim/v2/Users/{created.json()['id']}")
            home = await http.get("/")

        location = f"http://testserver/scim/v2/Users/{created.json()['id']}"
        assert created.status_code == 201
        assert created.headers["Location"] == location
        assert created.json()["meta"]["location"] == location
        assert read.headers["Content-Location"] == location
        assert home.text == "the host application"

    async def test_host_lifespan_opens_and_closes_the_gateway(self) -> None:
        example = run_example(0)
        context = gateway(example["scim"])

        async with serving(example["app"]):
            opened = context.is_open

        assert (opened, context.is_open) == (True, False)

    async def test_deactivation_reaches_the_hosts_callback(self) -> None:
        example = run_example(0)
        token = "acme-secret-token-0123456789"

        async with serving(example["app"], authorization=f"Bearer {token}") as http:
            user_id = (await http.post("/scim/v2/Users", json=ANN)).json()["id"]
            await http.patch(
                f"/scim/v2/Users/{user_id}",
                json={
                    "schemas": [PATCH_SCHEMA],
                    "Operations": [{"op": "replace", "path": "active", "value": False}],
                },
            )

        assert example["ended_sessions"] == [user_id]

    async def test_discovery_documents_name_the_mount_prefix(self) -> None:
        example = run_example(0)
        token = "acme-secret-token-0123456789"

        async with serving(example["app"], authorization=f"Bearer {token}") as http:
            config = await http.get("/scim/v2/ServiceProviderConfig")

        assert config.json()["meta"]["location"] == (
            "http://testserver/scim/v2/ServiceProviderConfig"
        )


class TestFastApiHost:
    async def test_api_key_selects_the_tenant(self) -> None:
        example = run_example(1)

        async with serving(example["app"]) as http:
            created = await http.post(
                "/identity/scim/v2/Users",
                json=ANN,
                headers={"X-API-Key": "acme-api-key-0123456789"},
            )
            user_id = created.json()["id"]
            by_acme = await http.get(
                f"/identity/scim/v2/Users/{user_id}",
                headers={"X-API-Key": "acme-api-key-0123456789"},
            )
            by_globex = await http.get(
                f"/identity/scim/v2/Users/{user_id}",
                headers={"X-API-Key": "globex-api-key-0123456789"},
            )

        assert created.status_code == 201
        assert created.headers["Location"] == (
            f"http://testserver/identity/scim/v2/Users/{user_id}"
        )
        assert by_acme.status_code == 200
        assert by_globex.status_code == 404

    async def test_missing_api_key_gets_a_scim_401(self) -> None:
        example = run_example(1)

        async with serving(example["app"]) as http:
            response = await http.get("/identity/scim/v2/Users")

        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/scim+json")
        assert response.json() == {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "401",
            "detail": "send a valid X-API-Key header",
        }

    async def test_host_routes_still_answer(self) -> None:
        example = run_example(1)

        async with serving(example["app"]) as http:
            response = await http.get("/health")

        assert response.json() == {"status": "ok"}


class TestSubscribeExample:
    async def test_subscribed_callback_hears_until_unsubscribed(self) -> None:
        example = run_example(2)
        headers = {"Authorization": "Bearer a-secret-token-0123456789"}

        async with serving(example["scim"], **headers) as http:
            await http.post("/scim/v2/Users", json=ANN)
            example["unsubscribe"]()
            await http.post("/scim/v2/Users", json={**ANN, "userName": "bo"})

        assert [event.kind for event in example["seen"]] == [ChangeKind.USER_CREATED]


class TestWithoutLifespan:
    async def test_mounted_gateway_opens_its_backend_on_first_request(
        self, tmp_path: Path
    ) -> None:
        database = tmp_path / "scim.sqlite3"
        scim = create_app(
            settings=Settings(base_path="/v2"),
            backend=SqliteBackend(database),
            tokens="token-0123456789",
        )
        host = Starlette(routes=[Mount("/scim", app=scim)])
        exists_before = database.exists()

        async with serving(host, authorization="Bearer token-0123456789") as http:
            created = await http.post("/scim/v2/Users", json=ANN)
        await gateway(scim).close()

        assert (exists_before, database.exists()) == (False, True)
        assert created.json()["meta"]["location"].startswith(
            "http://testserver/scim/v2/Users/"
        )
        assert not gateway(scim).is_open

    async def test_base_url_wins_over_the_request(self) -> None:
        scim = create_app(
            settings=Settings(),
            backend=MemoryBackend(),
            tokens="token-0123456789",
            base_url="https://id.example.com/tenants/scim/",
        )

        async with serving(scim, authorization="Bearer token-0123456789") as http:
            created = await http.post("/scim/v2/Users", json=ANN)

        assert created.headers["Location"] == (
            f"https://id.example.com/tenants/scim/Users/{created.json()['id']}"
        )


async def test_gateway_lifespan_refuses_an_app_it_did_not_make() -> None:
    with pytest.raises(TypeError, match="create_app"):
        async with gateway_lifespan(Starlette()):
            pass
