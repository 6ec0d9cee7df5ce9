from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from scim_gateway.app import create_app
from scim_gateway.backends.base import Backend
from scim_gateway.config import Settings
from scim_gateway.context import GatewayContext
from tests.conftest import TOKEN
from tests.invitations.recording import RecordingDeliverer

ADMIN_TOKEN = "admin-token-0123456789abcdef"

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
INVITATION = "urn:scim-gateway:schemas:extension:invitation:1.0:User"


@pytest.fixture
def settings() -> Settings:
    return Settings(
        token=None,
        database="memory",
        admin_token=ADMIN_TOKEN,
        organization="Acme & Co",
        delivery_backoff_seconds=0.0,
        outbox_poll_seconds=0.02,
    )


@pytest.fixture
def recorder() -> RecordingDeliverer:
    return RecordingDeliverer()


@pytest.fixture
def app(
    backend: Backend, settings: Settings, recorder: RecordingDeliverer
) -> Starlette:
    return create_app(
        settings=settings, backend=backend, tokens=TOKEN, invitations=recorder
    )


@pytest.fixture
def gateway(app: Starlette) -> GatewayContext:
    context: GatewayContext = app.state.gateway
    return context


@pytest.fixture
async def admin(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the admin API of the default tenant."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/admin/tenants/default/invitations",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as http:
        yield http


@pytest.fixture
async def browser(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials, as a person's browser."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


def user(user_name: str, **attributes: Any) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "displayName": user_name.split("@")[0].replace(".", " ").title(),
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        **attributes,
    }


async def create_user(client: httpx.AsyncClient, user_name: str, **extra: Any) -> str:
    response = await client.post("/Users", json=user(user_name, **extra))
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


async def invitation_of(client: httpx.AsyncClient, user_id: str) -> dict[str, Any]:
    # The extension is returned only when asked for (returned: request).
    response = await client.get(f"/Users/{user_id}", params={"attributes": INVITATION})
    extension: dict[str, Any] = response.json().get(INVITATION, {})
    return extension


async def set_active(client: httpx.AsyncClient, user_id: str, active: bool) -> None:
    # Entra's way: a PATCH replace of `active` with a string boolean.
    response = await client.patch(
        f"/Users/{user_id}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "active", "value": str(active)}],
        },
    )
    assert response.status_code == 200, response.text


def token_of(accept_url: str | None) -> str:
    assert accept_url is not None
    return parse_qs(urlsplit(accept_url).query)["token"][0]


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
