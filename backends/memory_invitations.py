"""Invitations and the outbox in dictionaries, for the memory backend.

The outbox is one dictionary for every tenant, in enqueue order; delivered
messages leave it, failed ones stay so that admins can see them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from scim_gateway.backends.columns import new_id, utc_now
from scim_gateway.backends.invitations import (
    DeliveryStatus,
    InvitationRecord,
    InvitationState,
    OutboxEntry,
    OutboxMessage,
)

__all__ = ["OutboxRow", "claim_rows", "finish_row", "list_records", "new_row", "pick"]

PENDING, FAILED = "pending", "failed"


@dataclass(frozen=True)
class OutboxRow:
    tenant: str
    message: OutboxMessage
    created: datetime
    next_attempt: datetime
    status: str = PENDING
    attempts: int = 0
    claimed_until: datetime | None = None
    claim: str | None = None
    last_error: str | None = None

    def entry(self) -> OutboxEntry:
        message = self.message
        assert self.claim is not None
        return OutboxEntry(
            id=message.id,
            tenant=self.tenant,
            user_id=message.user_id,
            event=message.event,
            payload=_copy(message.payload),
            attempts=self.attempts,
            created=self.created,
            claim=self.claim,
            secret=message.secret,
        )


def new_row(tenant: str, message: OutboxMessage) -> OutboxRow:
    now = utc_now()
    return OutboxRow(tenant, replace(message, payload=_copy(message.payload)), now, now)


def claim_rows(
    outbox: dict[str, OutboxRow], *, limit: int, lease: float
) -> list[OutboxEntry]:
    """Claim due rows in place, the oldest pending row of each user only."""
    now = utc_now()
    until = now + timedelta(seconds=lease)
    seen: set[tuple[str, str]] = set()
    claimed: list[OutboxEntry] = []
    for row in list(outbox.values()):
        if len(claimed) >= limit:
            break
        if row.status != PENDING:
            continue
        key = (row.tenant, row.message.user_id)
        if key in seen:
            continue
        seen.add(key)
        if row.next_attempt > now or (row.claimed_until or now) > now:
            continue
        taken = replace(
            row, attempts=row.attempts + 1, claimed_until=until, claim=new_id()
        )
        outbox[row.message.id] = taken
        claimed.append(taken.entry())
    return claimed


def finish_row(
    outbox: dict[str, OutboxRow],
    invitations: dict[str, InvitationRecord] | None,
    entry: OutboxEntry,
    *,
    error: str | None,
    retry_at: datetime | None,
) -> bool:
    """Complete (no error), retry (a `retry_at`) or fail a claimed row."""
    row = outbox.get(entry.id)
    if row is None or row.claim != entry.claim:
        return False
    if error is None:
        del outbox[entry.id]
        _mark(invitations, entry, DeliveryStatus.DELIVERED, None)
        return True
    if retry_at is not None:
        outbox[entry.id] = replace(
            row, next_attempt=retry_at, claimed_until=None, claim=None, last_error=error
        )
        _mark(invitations, entry, DeliveryStatus.PENDING, error)
        return True
    message = replace(row.message, secret=None)
    outbox[entry.id] = replace(
        row, message=message, status=FAILED, claimed_until=None, last_error=error
    )
    _mark(invitations, entry, DeliveryStatus.FAILED, error)
    return True


def _mark(
    invitations: dict[str, InvitationRecord] | None,
    entry: OutboxEntry,
    delivery: DeliveryStatus,
    error: str | None,
) -> None:
    record = None if invitations is None else invitations.get(entry.user_id)
    if invitations is None or record is None or record.outbox_id != entry.id:
        return
    invitations[entry.user_id] = replace(
        record, delivery=delivery, last_delivery_error=error
    )


def list_records(
    records: Iterable[InvitationRecord], states: Collection[InvitationState] | None
) -> list[InvitationRecord]:
    chosen = [r for r in records if states is None or r.state in states]
    return sorted(chosen, key=_invited_order)


def pick(
    records: dict[str, InvitationRecord], user_ids: Sequence[str]
) -> dict[str, InvitationRecord]:
    return {u: records[u] for u in user_ids if u in records}


def _invited_order(record: InvitationRecord) -> tuple[datetime, str]:
    return (record.invited_at or datetime.min.replace(tzinfo=UTC), record.user_id)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value
