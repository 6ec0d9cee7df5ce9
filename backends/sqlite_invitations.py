"""Invitations and the outbox in SQLite: statements run on a connection's thread.

Claims run in a write transaction (`BEGIN IMMEDIATE`), which SQLite grants
to one connection of one process at a time, so two gateways on one file
never claim the same message.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from scim_gateway.backends.columns import (
    format_instant,
    new_id,
    parse_instant,
    utc_now,
)
from scim_gateway.backends.invitations import (
    INVITATION_COLUMNS,
    INVITATION_UPSERT,
    DeliveryStatus,
    InvitationRecord,
    InvitationState,
    OutboxEntry,
    OutboxMessage,
    held_outcomes,
)
from scim_gateway.backends.sqlite_writes import dump_json

__all__ = [
    "MIGRATION",
    "claim_outbox",
    "complete_outbox_many",
    "enqueue",
    "find_invitation",
    "finish_outbox",
    "get_invitation",
    "get_invitations",
    "list_invitations",
    "put_invitation",
]

# Applied after the credential tables (see sqlite_schema.MIGRATIONS). No
# foreign key to `resources`: an invitation outlives its deleted user, whose
# revocation is still to be delivered and shown.
MIGRATION: tuple[str, ...] = (
    """
    CREATE TABLE invitations (
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        state TEXT NOT NULL,
        token_digest TEXT UNIQUE,
        expires_at TEXT,
        invited_at TEXT,
        accepted_at TEXT,
        confirmed_at TEXT,
        revoked_at TEXT,
        delivery TEXT,
        last_delivery_error TEXT,
        outbox_id TEXT,
        PRIMARY KEY (tenant, user_id)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX invitations_by_state ON invitations (tenant, state)",
    # `seq` is the rowid: enqueue order, which delivery keeps per user.
    """
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        event TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt TEXT NOT NULL,
        claimed_until TEXT,
        claim TEXT,
        last_error TEXT,
        created TEXT NOT NULL,
        secret TEXT,
        payload TEXT NOT NULL
    )
    """,
    "CREATE INDEX outbox_pending ON outbox (seq) WHERE status = 'pending'",
    """
    CREATE INDEX outbox_pending_by_user ON outbox (tenant, user_id, seq)
        WHERE status = 'pending'
    """,
)

_COLUMNS = INVITATION_COLUMNS


def get_invitation(
    connection: sqlite3.Connection, tenant: str, user_id: str
) -> InvitationRecord | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM invitations WHERE tenant = ? AND user_id = ?",
        (tenant, user_id),
    ).fetchone()
    return None if row is None else _record(row)


def get_invitations(
    connection: sqlite3.Connection, tenant: str, user_ids: Sequence[str]
) -> dict[str, InvitationRecord]:
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM invitations WHERE tenant = ?"
        " AND user_id IN (SELECT value FROM json_each(?))",
        (tenant, json.dumps(list(user_ids))),
    )
    return {record.user_id: record for record in map(_record, rows)}


def list_invitations(
    connection: sqlite3.Connection,
    tenant: str,
    states: Collection[InvitationState] | None,
) -> list[InvitationRecord]:
    wanted = None if states is None else json.dumps([s.value for s in states])
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM invitations WHERE tenant = ?1"
        " AND (?2 IS NULL OR state IN (SELECT value FROM json_each(?2)))"
        " ORDER BY invited_at, user_id",
        (tenant, wanted),
    )
    return [_record(row) for row in rows]


def find_invitation(
    connection: sqlite3.Connection, token_digest: str
) -> InvitationRecord | None:
    row = connection.execute(
        f"SELECT {_COLUMNS} FROM invitations WHERE token_digest = ?", (token_digest,)
    ).fetchone()
    return None if row is None else _record(row)


def put_invitation(connection: sqlite3.Connection, record: InvitationRecord) -> None:
    connection.execute(
        f"INSERT INTO invitations ({_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        f"{INVITATION_UPSERT}",
        _row(record),
    )


def enqueue(
    connection: sqlite3.Connection, tenant: str, message: OutboxMessage
) -> None:
    now = format_instant(utc_now())
    connection.execute(
        "INSERT INTO outbox (id, tenant, user_id, event, payload, secret,"
        " next_attempt, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            message.id,
            tenant,
            message.user_id,
            message.event,
            dump_json(message.payload),
            message.secret,
            now,
            now,
        ),
    )


def claim_outbox(
    connection: sqlite3.Connection, limit: int, lease: float
) -> list[OutboxEntry]:
    now = utc_now()
    claim = new_id()
    rows = connection.execute(
        "UPDATE outbox SET attempts = attempts + 1, claimed_until = ?1, claim = ?2"
        " WHERE seq IN (SELECT o.seq FROM outbox AS o"
        " WHERE o.status = 'pending' AND o.next_attempt <= ?3"
        " AND (o.claimed_until IS NULL OR o.claimed_until <= ?3)"
        " AND NOT EXISTS (SELECT 1 FROM outbox AS p WHERE p.status = 'pending'"
        " AND p.tenant = o.tenant AND p.user_id = o.user_id AND p.seq < o.seq)"
        " ORDER BY o.seq LIMIT ?4)"
        " RETURNING seq, id, tenant, user_id, event, payload, attempts, created,"
        " secret",
        (
            format_instant(now + timedelta(seconds=lease)),
            claim,
            format_instant(now),
            limit,
        ),
    ).fetchall()
    return [_entry(row, claim) for row in sorted(rows)]


def finish_outbox(
    connection: sqlite3.Connection,
    entry: OutboxEntry,
    error: str | None,
    retry_at: datetime | None,
) -> bool:
    """Complete (no error), retry (a `retry_at`) or fail a claimed message."""
    held = (entry.id, entry.claim)
    if error is None:
        cursor = connection.execute(
            "DELETE FROM outbox WHERE id = ? AND claim = ?", held
        )
        status = DeliveryStatus.DELIVERED
    elif retry_at is not None:
        cursor = connection.execute(
            "UPDATE outbox SET next_attempt = ?, claimed_until = NULL, claim = NULL,"
            " last_error = ? WHERE id = ? AND claim = ?",
            (format_instant(retry_at), error, *held),
        )
        status = DeliveryStatus.PENDING
    else:
        cursor = connection.execute(
            "UPDATE outbox SET status = 'failed', claimed_until = NULL, secret = NULL,"
            " last_error = ? WHERE id = ? AND claim = ?",
            (error, *held),
        )
        status = DeliveryStatus.FAILED
    if cursor.rowcount == 0:
        return False
    connection.execute(
        "UPDATE invitations SET delivery = ?, last_delivery_error = ?"
        " WHERE tenant = ? AND user_id = ? AND outbox_id = ?",
        (status.value, error, entry.tenant, entry.user_id, entry.id),
    )
    return True


def complete_outbox_many(
    connection: sqlite3.Connection, entries: Sequence[OutboxEntry]
) -> list[bool]:
    """`finish_outbox` of delivered messages, in two statements for them all.

    Two statements a message were most of what recording a batch cost.
    """
    if not entries:
        return []
    claims = json.dumps([[entry.id, entry.claim] for entry in entries])
    rows = connection.execute(
        "DELETE FROM outbox WHERE (id, claim) IN"
        " (SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]')"
        " FROM json_each(?) AS j)"
        " RETURNING id, claim",
        (claims,),
    ).fetchall()
    held = {(row[0], row[1]) for row in rows}
    deleted = [entry for entry in entries if (entry.id, entry.claim) in held]
    if deleted:
        owners = json.dumps([[e.tenant, e.user_id, e.id] for e in deleted])
        connection.execute(
            "UPDATE invitations SET delivery = ?, last_delivery_error = NULL"
            " WHERE (tenant, user_id, outbox_id) IN (SELECT"
            " json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'),"
            " json_extract(j.value, '$[2]') FROM json_each(?) AS j)",
            (DeliveryStatus.DELIVERED.value, owners),
        )
    return held_outcomes(entries, held)


def _load_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # What `json` wrote and orjson refuses (NaN, Infinity).
        return json.loads(text)


def _instant(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


def _parsed(text: str | None) -> datetime | None:
    return None if text is None else parse_instant(text)


def _row(record: InvitationRecord) -> tuple[Any, ...]:
    return (
        record.tenant,
        record.user_id,
        record.state.value,
        record.token_digest,
        _instant(record.expires_at),
        _instant(record.invited_at),
        _instant(record.accepted_at),
        _instant(record.confirmed_at),
        _instant(record.revoked_at),
        None if record.delivery is None else record.delivery.value,
        record.last_delivery_error,
        record.outbox_id,
    )


def _record(row: Sequence[Any]) -> InvitationRecord:
    return InvitationRecord(
        tenant=row[0],
        user_id=row[1],
        state=InvitationState(row[2]),
        token_digest=row[3],
        expires_at=_parsed(row[4]),
        invited_at=_parsed(row[5]),
        accepted_at=_parsed(row[6]),
        confirmed_at=_parsed(row[7]),
        revoked_at=_parsed(row[8]),
        delivery=None if row[9] is None else DeliveryStatus(row[9]),
        last_delivery_error=row[10],
        outbox_id=row[11],
    )


def _entry(row: Sequence[Any], claim: str) -> OutboxEntry:
    return OutboxEntry(
        id=row[1],
        tenant=row[2],
        user_id=row[3],
        event=row[4],
        payload=_load_json(row[5]),
        attempts=row[6],
        created=parse_instant(row[7]),
        claim=claim,
        secret=row[8],
    )
