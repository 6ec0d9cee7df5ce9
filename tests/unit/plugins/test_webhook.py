"""The `webhook` deliverer against a real local HTTP server."""

from __future__ import annotations

import json

import pytest

from scim_gateway.plugins.base import (
    DelivererConfig,
    DeliveryError,
    InvitationEvent,
)
from scim_gateway.plugins.registry import load_deliverer
from scim_gateway.plugins.templates import InvitationTemplates
from scim_gateway.plugins.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookDeliverer,
    sign,
    verify_signature,
)
from tests.e2e.server import free_port
from tests.unit.plugins.invitations import ACCEPT_URL, invitation
from tests.unit.plugins.webhook_server import webhook_server

SECRET = "shared-webhook-secret"


async def test_posts_signed_json_with_the_idempotency_key() -> None:
    with webhook_server() as (receiver, url):
        await WebhookDeliverer(url=url, secret=SECRET).invite(invitation())

    (request,) = receiver.requests
    body = json.loads(request.body)
    assert request.path == "/hooks/invitations?v=1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "key-0001"
    assert verify_signature(
        SECRET,
        request.headers[TIMESTAMP_HEADER],
        request.body,
        request.headers[SIGNATURE_HEADER],
    )
    assert body["event"] == "invited"
    assert body["acceptUrl"] == ACCEPT_URL
    assert (body["userId"], body["email"], body["organization"]) == (
        "u-1",
        "ann.lee@example.com",
        "Acme & Co",
    )


async def test_later_events_are_posted_too() -> None:
    with webhook_server() as (receiver, url):
        deliverer = WebhookDeliverer(url=url, secret=SECRET)
        await deliverer.confirmed(
            invitation(event=InvitationEvent.CONFIRMED, accept_url=None)
        )

    body = json.loads(receiver.requests[0].body)
    assert (body["event"], body["acceptUrl"]) == ("confirmed", None)


async def test_a_non_2xx_answer_is_a_delivery_error() -> None:
    with webhook_server(statuses=[503]) as (_, url):
        with pytest.raises(DeliveryError, match="HTTP 503"):
            await WebhookDeliverer(url=url, secret=SECRET).invite(invitation())


async def test_a_receiver_that_is_down_is_a_delivery_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"

    with pytest.raises(DeliveryError, match="ConnectionRefusedError"):
        await WebhookDeliverer(url=url, secret=SECRET).invite(invitation())


def test_signature_covers_timestamp_and_body() -> None:
    signature = sign(SECRET, "1700000000", b"{}")

    assert verify_signature(SECRET, "1700000000", b"{}", signature, now=1700000100)
    assert not verify_signature(SECRET, "1700000000", b"{ }", signature, now=1.7e9)
    assert not verify_signature("other", "1700000000", b"{}", signature, now=1.7e9)
    assert not verify_signature(SECRET, "1700000000", b"{}", signature, now=1.8e9)


def test_options_need_url_and_secret() -> None:
    config = DelivererConfig(InvitationTemplates(), {"url": "http://127.0.0.1/h"})

    with pytest.raises(ValueError, match="SCIM_GATEWAY_WEBHOOK_SECRET"):
        load_deliverer("webhook", config)


def test_secret_is_not_in_repr() -> None:
    deliverer = WebhookDeliverer(url="https://hooks.example.com/x", secret=SECRET)

    assert SECRET not in repr(deliverer)
