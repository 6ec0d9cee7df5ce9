"""What backends store for invitations: each user's invitation and the outbox.

The gateway decides the lifecycle (which state may follow which); a backend
only keeps records and hands out outbox entries. An outbox message is written
in the same transaction as the change that causes it, then claimed by one
worker at a time: a claim is a lease, so the entries of a process that died
are claimed again once their lease runs out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "DeliveryStatus",
    "InvitationRecord",
    "InvitationState",
    "OutboxEntry",
    "OutboxMessage",
]


class InvitationState(enum.Enum):
    INVITED = "invited"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    REVOKED = "revoked"


class DeliveryStatus(enum.Enum):
    """How the delivery of a user's latest invitation message went."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class InvitationRecord:
    """A user's invitation. `token_digest` is the SHA-256 of the accept token.

    `outbox_id` names the outbox entry that carries the current invitation
    message; `delivery` and `last_delivery_error` follow that entry. All
    instants are aware UTC datetimes.
    """

    tenant: str
    user_id: str
    state: InvitationState
    token_digest: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    invited_at: datetime | None = None
    accepted_at: datetime | None = None
    confirmed_at: datetime | None = None
    revoked_at: datetime | None = None
    delivery: DeliveryStatus | None = None
    last_delivery_error: str | None = None
    outbox_id: str | None = None


@dataclass(frozen=True)
class OutboxMessage:
    """A message to deliver after commit, as a transaction enqueues it.

    `id` doubles as the idempotency key every delivery attempt carries.
    `payload` is JSON-ready. `secret` (the accept token) is kept only until
    the delivery ends, then erased.
    """

    id: str
    user_id: str
    event: str
    payload: dict[str, Any]
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class OutboxEntry:
    """A claimed outbox message. `claim` identifies this claim (lease) of it.

    `attempts` counts claims, this one included.
    """

    id: str
    tenant: str
    user_id: str
    event: str
    payload: dict[str, Any]
    attempts: int
    created: datetime
    claim: str
    secret: str | None = field(default=None, repr=False)
