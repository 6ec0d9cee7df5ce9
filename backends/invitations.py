"""What backends store for invitations: each user's invitation and the outbox.

The gateway decides the lifecycle (which state may follow which); a backend
only keeps records and hands out outbox entries. An outbox message is written
in the same transaction as the change that causes it, then claimed by one
worker at a time: a claim is a lease, so the entries of a process that died
are claimed again once their lease runs out.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "INVITATION_COLUMNS",
    "INVITATION_UPSERT",
    "DeliveryStatus",
    "InvitationRecord",
    "InvitationState",
    "OutboxEntry",
    "OutboxMessage",
    "check_tenant",
    "held_outcomes",
]

# The `invitations` table as both SQL backends store it, in `InvitationRecord`
# order; each backend adds its own placeholders to the INSERT.
INVITATION_COLUMNS = (
    "tenant, user_id, state, token_digest, expires_at, invited_at, accepted_at,"
    " confirmed_at, revoked_at, delivery, last_delivery_error, outbox_id"
)
# What an INSERT of a user's invitation does when the user already has one.
INVITATION_UPSERT = (
    " ON CONFLICT (tenant, user_id) DO UPDATE SET state = excluded.state,"
    " token_digest = excluded.token_digest, expires_at = excluded.expires_at,"
    " invited_at = excluded.invited_at, accepted_at = excluded.accepted_at,"
    " confirmed_at = excluded.confirmed_at, revoked_at = excluded.revoked_at,"
    " delivery = excluded.delivery,"
    " last_delivery_error = excluded.last_delivery_error,"
    " outbox_id = excluded.outbox_id"
)


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


def check_tenant(record: InvitationRecord, tenant: str) -> None:
    """Refuse to write an invitation in a tenant other than its own.

    Raises:
        ValueError: `record` belongs to another tenant.
    """
    if record.tenant != tenant:
        raise ValueError("an invitation is written in its own tenant")


def held_outcomes(
    entries: Sequence[OutboxEntry], held: set[tuple[str, str]]
) -> list[bool]:
    """For each entry of a batch, whether its claim was still held.

    `held` holds the (id, claim) pairs the store finished; a message named
    twice was finished once, so only its first entry held it.
    """
    left = set(held)
    outcomes = []
    for entry in entries:
        key = (entry.id, entry.claim)
        outcomes.append(key in left)
        left.discard(key)
    return outcomes
