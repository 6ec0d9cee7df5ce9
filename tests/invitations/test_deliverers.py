"""The gateway with each built-in deliverer chosen by name in its settings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from scim_gateway.app import create_app
from scim_gateway.backends.base import Backend
from scim_gateway.config import Settings
from scim_gateway.context import GatewayContext
from tests.conftest import TOKEN
from tests.e2e.server import free_port
from tests.invitations.conftest import create_user, invitation_of, with_settings
from tests.unit.plugins.smtp_server import smtp_server
from tests.unit.plugins.webhook_server import webhook_server


@asynccontextmanager
async def gateway_with(
    backend: Backend, settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, GatewayContext]]:
    app = create_app(settings=settings, backend=backend, tokens=TOKEN)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/scim/v2",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        yield client, app.state.gateway


async def test_smtp_deliverer_mails_the_invitation(
    backend: Backend, settings: Settings
) -> None:
    with smtp_server() as (mailbox, port):
        configured = with_settings(
            settings,
            invitation_deliverer="smtp",
            deliverer_options={
                "host": "127.0.0.1",
                "port": str(port),
                "from": "no-reply@acme.example",
            },
        )
        async with gateway_with(backend, configured) as (client, gateway):
            user_id = await create_user(client, "ann.lee@example.com")
            await gateway.outbox.drain()
            state = await invitation_of(client, user_id)

    (message,) = mailbox.messages
    assert message["Subject"] == "Acme & Co invites you"
    body = message.get_body(("plain",))
    assert body is not None
    assert "http://testserver/invitations/accept?token=" in body.get_content()
    assert state["deliveryStatus"] == "delivered"


async def test_webhook_down_then_up_receives_the_invitation_once(
    backend: Backend, settings: Settings
) -> None:
    port = free_port()
    configured = with_settings(
        settings,
        invitation_deliverer="webhook",
        deliverer_options={
            "url": f"http://127.0.0.1:{port}/hook",
            "secret": "shared-secret",
        },
    )
    async with gateway_with(backend, configured) as (client, gateway):
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.deliver_batch()
        while_down = await invitation_of(client, user_id)

        with webhook_server(port) as (receiver, _):
            await gateway.outbox.drain()
        after = await invitation_of(client, user_id)

    (request,) = receiver.requests
    assert json.loads(request.body)["userId"] == user_id
    assert json.loads(request.body)["attempt"] == 2
    assert while_down["deliveryStatus"] == "pending"
    assert "ConnectionRefusedError" in while_down["lastDeliveryError"]
    assert after["deliveryStatus"] == "delivered"
