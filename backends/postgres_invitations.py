"""Invitations and the outbox in PostgreSQL: the statements `PostgresBackend` runs.

Several gateway processes drain one outbox: a claim selects due rows with
`FOR UPDATE SKIP LOCKED`, so concurrent claims pass over each other's rows
instead of waiting for them or taking them twice, and marks them with a
lease measured by the database's clock, the one clock all processes share.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

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
from scim_gateway.backends.postgres_rows import decode_json

__all__ = [
    "CLAIM_MIGRATION",
    "MIGRATION",
    "claim_outbox",
    "complete_outbox_many",
    "enqueue",
    "find_invitation",
    "finish_outbox",
    "get_invitation",
    "get_invitations",
    "invitation_args",
    "list_invitations",
    "put_and_enqueue",
    "put_invitation",
    "with_invitation",
]

Connection = asyncpg.Connection | PoolConnectionProxy

# No foreign key to `resources`: an invitation outlives its deleted user,
# whose revocation is still to be delivered and shown.
MIGRATION = """
CREATE TABLE invitations (
    tenant text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    state text NOT NULL,
    token_digest text UNIQUE,
    expires_at timestamptz,
    invited_at timestamptz,
    accepted_at timestamptz,
    confirmed_at timestamptz,
    revoked_at timestamptz,
    delivery text,
    last_delivery_error text,
    outbox_id text,
    PRIMARY KEY (tenant, user_id)
);
CREATE INDEX invitations_state_idx ON invitations (tenant, state);

-- `seq` is enqueue order, which delivery keeps per user.
CREATE TABLE outbox (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    tenant text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    event text NOT NULL,
    payload jsonb NOT NULL,
    secret text,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL DEFAULT statement_timestamp(),
    claimed_until timestamptz,
    claim text,
    last_error text,
    created timestamptz NOT NULL DEFAULT statement_timestamp()
);
CREATE INDEX outbox_pending_idx ON outbox (seq) WHERE status = 'pending';
CREATE INDEX outbox_pending_user_idx ON outbox (tenant, user_id, seq)
    WHERE status = 'pending';
"""

_COLUMNS = INVITATION_COLUMNS

# The claim, as a function of the schema (migration 9) for the settings its
# plan is made under. Claimable: pending, due, not leased, and no older pending
# message of the same user (`seq` order). The plan wanted whatever the table's
# statistics say: the due rows in `seq` order from `outbox_pending_idx` (a plain
# index scan, which marks the entries of delivered rows dead as it passes them),
# the rows to update by primary key. As a prepared statement the plan followed
# the statistics, and an outbox analyzed while empty, as a worker that keeps up
# leaves it, gave plans that read every pending index entry, dead ones
# included, once per candidate: 490-630 ms per claim with 1,000 pending, against
# 2-4 ms here. Scans of the whole table are off too, so that the plan does not
# change with the table's size either. The claimed rows are picked once, as an
# array (an init plan): as a joined subquery, a plan that took the table for one
# row could run the subquery again for every row of the table.
CLAIM_MIGRATION = """
CREATE FUNCTION scim_claim_outbox(integer, double precision, text)
RETURNS TABLE (seq bigint, id text, tenant text, user_id text, event text,
               payload jsonb, attempts integer, created timestamptz, secret text)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET search_path FROM CURRENT
AS $function$
#variable_conflict use_column
BEGIN
RETURN QUERY
UPDATE outbox AS o
SET attempts = o.attempts + 1,
    claimed_until = statement_timestamp() + make_interval(secs => $2),
    claim = $3
WHERE o.seq = ANY (ARRAY(
    SELECT c.seq FROM outbox AS c
    WHERE c.status = 'pending' AND c.next_attempt <= statement_timestamp()
      AND (c.claimed_until IS NULL OR c.claimed_until <= statement_timestamp())
      AND NOT EXISTS (
          SELECT 1 FROM outbox AS p
          WHERE p.status = 'pending' AND p.tenant = c.tenant
            AND p.user_id = c.user_id AND p.seq < c.seq)
    ORDER BY c.seq
    LIMIT $1
    FOR UPDATE SKIP LOCKED
))
RETURNING o.seq, o.id, o.tenant, o.user_id, o.event, o.payload, o.attempts,
    o.created, o.secret;
END
$function$;

-- plan_cache_mode came with PostgreSQL 12; on 11 the server chooses the plan.
DO $migration$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'plan_cache_mode') THEN
        ALTER FUNCTION scim_claim_outbox(integer, double precision, text)
            SET plan_cache_mode = force_generic_plan;
    END IF;
END
$migration$;
"""

_CLAIM = "SELECT * FROM scim_claim_outbox($1, $2, $3)"


async def get_invitation(
    connection: Connection, tenant: str, user_id: str, *, lock: bool
) -> InvitationRecord | None:
    row = await connection.fetchrow(
        f"SELECT {_COLUMNS} FROM invitations WHERE tenant = $1 AND user_id = $2"
        + (" FOR UPDATE" if lock else ""),
        tenant,
        user_id,
    )
    return None if row is None else _record(row)


async def get_invitations(
    connection: Connection, tenant: str, user_ids: Sequence[str]
) -> dict[str, InvitationRecord]:
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM invitations"
        " WHERE tenant = $1 AND user_id = ANY($2::text[])",
        tenant,
        list(user_ids),
    )
    return {record.user_id: record for record in map(_record, rows)}


async def list_invitations(
    connection: Connection, tenant: str, states: Collection[InvitationState] | None
) -> list[InvitationRecord]:
    wanted = None if states is None else [s.value for s in states]
    rows = await connection.fetch(
        f"SELECT {_COLUMNS} FROM invitations WHERE tenant = $1"
        " AND ($2::text[] IS NULL OR state = ANY($2::text[]))"
        " ORDER BY invited_at NULLS FIRST, user_id",
        tenant,
        wanted,
    )
    return [_record(row) for row in rows]


async def find_invitation(
    connection: Connection, token_digest: str
) -> InvitationRecord | None:
    row = await connection.fetchrow(
        f"SELECT {_COLUMNS} FROM invitations WHERE token_digest = $1", token_digest
    )
    return None if row is None else _record(row)


_PUT = (
    f"INSERT INTO invitations ({_COLUMNS})"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    f"{INVITATION_UPSERT}"
)


def _enqueue_sql(first: int) -> str:
    """The outbox insert, its parameters numbered from `first`."""
    numbers = ", ".join(f"${n}" for n in range(first, first + 6))
    return (
        "INSERT INTO outbox (id, tenant, user_id, event, payload, secret)"
        f" VALUES ({numbers})"
    )


_ENQUEUE = _enqueue_sql(1)

# An invitation and the message that announces it, in one round trip.
_PUT_AND_ENQUEUE = f"WITH invitation AS ({_PUT}) {_enqueue_sql(13)}"


def with_invitation(create: str, first: int) -> str:
    """`create`, a statement returning a new resource's row, with the user's
    invitation and its message written by the same statement, their
    parameters numbered from `first` (`invitation_args`); neither is written
    when `create` returns no row (a taken name).
    """
    record = ", ".join(f"${n}" for n in range(first, first + 12))
    message = ", ".join(f"${n}" for n in range(first + 12, first + 18))
    if_created = "WHERE EXISTS (SELECT 1 FROM created)"
    return (
        f"WITH created AS ({create}),"
        f" invitation AS (INSERT INTO invitations ({_COLUMNS})"
        f" SELECT {record} {if_created}{INVITATION_UPSERT}),"
        " message AS (INSERT INTO outbox (id, tenant, user_id, event, payload, secret)"
        f" SELECT {message} {if_created})"
        " SELECT * FROM created"
    )


def invitation_args(
    record: InvitationRecord, message: OutboxMessage
) -> tuple[Any, ...]:
    """The parameters `with_invitation` numbers: the record's, then the message's."""
    return (*_row(record), *_message_row(record.tenant, message))


async def put_invitation(connection: Connection, record: InvitationRecord) -> None:
    await connection.execute(_PUT, *_row(record))


async def enqueue(connection: Connection, tenant: str, message: OutboxMessage) -> None:
    await connection.execute(_ENQUEUE, *_message_row(tenant, message))


async def put_and_enqueue(
    connection: Connection, record: InvitationRecord, message: OutboxMessage
) -> None:
    """`put_invitation` and `enqueue` (in the record's tenant) as one statement."""
    await connection.execute(
        _PUT_AND_ENQUEUE, *_row(record), *_message_row(record.tenant, message)
    )


def _message_row(tenant: str, message: OutboxMessage) -> tuple[Any, ...]:
    return (
        message.id,
        tenant,
        message.user_id,
        message.event,
        message.payload,
        message.secret,
    )


async def claim_outbox(
    connection: Connection, limit: int, lease: float
) -> list[OutboxEntry]:
    claim = str(uuid.uuid4())
    rows = await connection.fetch(_CLAIM, limit, float(lease), claim)
    return [_entry(row, claim) for row in sorted(rows, key=lambda r: r["seq"])]


# Completing, retrying or failing a claimed message, and recording the
# outcome on its invitation, in one statement (one round trip, atomic without
# BEGIN and COMMIT). `{change}` deletes or updates the claimed row ($1, $2);
# the invitation ($5, $6) gets delivery $3 and error $4 only if it did.
_FINISH = """
WITH finished AS ({change}
    RETURNING seq
), recorded AS (
    UPDATE invitations SET delivery = $3, last_delivery_error = $4
    WHERE tenant = $5 AND user_id = $6 AND outbox_id = $1
      AND EXISTS (SELECT 1 FROM finished)
)
SELECT EXISTS (SELECT 1 FROM finished)"""

_COMPLETE = _FINISH.format(change="DELETE FROM outbox WHERE id = $1 AND claim = $2")
_RETRY = _FINISH.format(
    change="UPDATE outbox SET next_attempt = $7, claimed_until = NULL, claim = NULL,"
    " last_error = $4 WHERE id = $1 AND claim = $2"
)
_FAIL = _FINISH.format(
    change="UPDATE outbox SET status = 'failed', claimed_until = NULL,"
    " secret = NULL, last_error = $4 WHERE id = $1 AND claim = $2"
)


async def finish_outbox(
    connection: Connection,
    entry: OutboxEntry,
    error: str | None,
    retry_at: datetime | None,
) -> bool:
    """Complete (no error), retry (a `retry_at`) or fail a claimed message."""
    args: tuple[Any, ...] = (entry.id, entry.claim)
    if error is None:
        sql, status = _COMPLETE, DeliveryStatus.DELIVERED
    elif retry_at is not None:
        sql, status = _RETRY, DeliveryStatus.PENDING
    else:
        sql, status = _FAIL, DeliveryStatus.FAILED
    args += (status.value, error, entry.tenant, entry.user_id)
    if sql is _RETRY:
        args += (retry_at,)
    found: bool = await connection.fetchval(sql, *args)
    return found


# `finish_outbox` of a whole delivered batch in one statement: a statement a
# message was most of the database's work per delivery. The invitations'
# owners come from the deleted rows, so only messages still held are marked.
# `id = ANY` lets the planner find the rows by the unique index; joined with
# the unnest alone it read the whole outbox, a backlog and all.
_COMPLETE_MANY = """
WITH finished AS (
    DELETE FROM outbox AS o
    USING unnest($1::text[], $2::text[]) AS d(id, claim)
    WHERE o.id = ANY($1::text[]) AND o.id = d.id AND o.claim = d.claim
    RETURNING o.id, o.claim, o.tenant, o.user_id
), recorded AS (
    UPDATE invitations AS i SET delivery = $3, last_delivery_error = NULL
    FROM finished AS f
    WHERE i.tenant = f.tenant AND i.user_id = f.user_id AND i.outbox_id = f.id
)
SELECT id, claim FROM finished"""


async def complete_outbox_many(
    connection: Connection, entries: Sequence[OutboxEntry]
) -> list[bool]:
    """`finish_outbox` of delivered messages, in one statement for them all."""
    if not entries:
        return []
    rows = await connection.fetch(
        _COMPLETE_MANY,
        [entry.id for entry in entries],
        [entry.claim for entry in entries],
        DeliveryStatus.DELIVERED.value,
    )
    held = {(row["id"], row["claim"]) for row in rows}
    return held_outcomes(entries, held)


def _row(record: InvitationRecord) -> tuple[Any, ...]:
    return (
        record.tenant,
        record.user_id,
        record.state.value,
        record.token_digest,
        record.expires_at,
        record.invited_at,
        record.accepted_at,
        record.confirmed_at,
        record.revoked_at,
        None if record.delivery is None else record.delivery.value,
        record.last_delivery_error,
        record.outbox_id,
    )


def _record(row: asyncpg.Record) -> InvitationRecord:
    delivery = row["delivery"]
    return InvitationRecord(
        tenant=row["tenant"],
        user_id=row["user_id"],
        state=InvitationState(row["state"]),
        token_digest=row["token_digest"],
        expires_at=row["expires_at"],
        invited_at=row["invited_at"],
        accepted_at=row["accepted_at"],
        confirmed_at=row["confirmed_at"],
        revoked_at=row["revoked_at"],
        delivery=None if delivery is None else DeliveryStatus(delivery),
        last_delivery_error=row["last_delivery_error"],
        outbox_id=row["outbox_id"],
    )


def _entry(row: asyncpg.Record, claim: str) -> OutboxEntry:
    return OutboxEntry(
        id=row["id"],
        tenant=row["tenant"],
        user_id=row["user_id"],
        event=row["event"],
        payload=decode_json(row["payload"]),
        attempts=row["attempts"],
        created=row["created"],
        claim=claim,
        secret=row["secret"],
    )
