"""An invitation value for the deliverers' tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scim_gateway.plugins.base import Invitation, InvitationEvent

ACCEPT_URL = "https://id.example.com/invitations/accept?token=secret-token-123"


def invitation(**changes: Any) -> Invitation:
    values: dict[str, Any] = {
        "event": InvitationEvent.INVITED,
        "tenant": "default",
        "user_id": "u-1",
        "user_name": "ann.lee@example.com",
        "display_name": "Ann <Lee>",
        "email": "ann.lee@example.com",
        "organization": "Acme & Co",
        "idempotency_key": "key-0001",
        "accept_url": ACCEPT_URL,
        "expires_at": datetime(2030, 1, 31, 12, 0, tzinfo=UTC),
    }
    values.update(changes)
    return Invitation(**values)
