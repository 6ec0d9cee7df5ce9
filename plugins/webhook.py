"""The `webhook` deliverer: POSTs each invitation event as signed JSON to a URL.

The receiver checks `X-Scim-Gateway-Signature`: `sha256=` and the hex
HMAC-SHA256, keyed with the shared secret, of the timestamp in
`X-Scim-Gateway-Timestamp`, a dot, and the raw body (`verify_signature`
does it). Signing the timestamp lets a receiver refuse old replays; the
`Idempotency-Key` header, the same on every retry of one event, lets it
drop repeats. Any 2xx answer counts as delivered; anything else is retried.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio

from scim_gateway.plugins.base import (
    Deliverer,
    DelivererConfig,
    DeliveryError,
    Invitation,
    number_option,
)

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookDeliverer",
    "sign",
    "verify_signature",
    "webhook_body",
]

SIGNATURE_HEADER = "X-Scim-Gateway-Signature"
TIMESTAMP_HEADER = "X-Scim-Gateway-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (Unix seconds)."""
    signed = timestamp.encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """Whether a webhook request is genuine and at most `tolerance` seconds old."""
    try:
        age = (time.time() if now is None else now) - float(timestamp)
    except ValueError:
        return False
    if abs(age) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def webhook_body(invitation: Invitation) -> dict[str, Any]:
    """The JSON a webhook receives for one event."""
    expires = invitation.expires_at
    return {
        "event": invitation.event.value,
        "idempotencyKey": invitation.idempotency_key,
        "tenant": invitation.tenant,
        "userId": invitation.user_id,
        "userName": invitation.user_name,
        "displayName": invitation.display_name,
        "email": invitation.email,
        "organization": invitation.organization,
        "acceptUrl": invitation.accept_url,
        "expiresAt": None if expires is None else expires.isoformat(),
        "attempt": invitation.attempt,
    }


@dataclass
class WebhookDeliverer(Deliverer):
    """POSTs every invitation event to `url`, signed with `secret`.

    Args:
        url: an `http://` or `https://` URL; redirects are not followed.
        secret: the HMAC key the receiver shares.
        timeout: seconds for connecting and for the answer.
    """

    url: str
    secret: str = field(repr=False)
    timeout: float = 10.0
    name: str = field(default="webhook", init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook url must be http:// or https://, not {self.url}")
        if not self.secret:
            raise ValueError("the webhook deliverer needs a signing secret")

    @classmethod
    def from_config(cls, config: DelivererConfig) -> WebhookDeliverer:
        """From `SCIM_GATEWAY_WEBHOOK_URL`, `_SECRET` and `_TIMEOUT`.

        Raises:
            ValueError: the URL or the secret is missing or malformed.
        """
        options = config.options
        url, secret = options.get("url"), options.get("secret")
        if not url or not secret:
            raise ValueError(
                "the webhook deliverer needs SCIM_GATEWAY_WEBHOOK_URL and "
                "SCIM_GATEWAY_WEBHOOK_SECRET"
            )
        return cls(
            url=url,
            secret=secret,
            timeout=number_option(options, "timeout", default=10.0),
        )

    async def invite(self, invitation: Invitation) -> None:
        await self._post(invitation)

    async def accepted(self, invitation: Invitation) -> None:
        await self._post(invitation)

    async def confirmed(self, invitation: Invitation) -> None:
        await self._post(invitation)

    async def revoked(self, invitation: Invitation) -> None:
        await self._post(invitation)

    async def _post(self, invitation: Invitation) -> None:
        body = json.dumps(webhook_body(invitation), separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": invitation.idempotency_key,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
            "User-Agent": "scim-gateway",
        }
        status = await anyio.to_thread.run_sync(
            self._send, body, headers, abandon_on_cancel=True
        )
        if not 200 <= status < 300:
            raise DeliveryError(f"the webhook answered HTTP {status}")

    def _send(self, body: bytes, headers: dict[str, str]) -> int:
        parts = urlsplit(self.url)
        connection_type = (
            http.client.HTTPSConnection
            if parts.scheme == "https"
            else http.client.HTTPConnection
        )
        connection = connection_type(
            parts.hostname or "", parts.port, timeout=self.timeout
        )
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"webhook {type(exc).__name__}: {exc}") from None
        finally:
            connection.close()
