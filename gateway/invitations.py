"""The invitation lifecycle: the states a user's invitation moves through, and when.

::

    created or enabled ──> invited ──accept──> accepted ──confirm──> confirmed
                            │   ^                 │
    deleted, disabled,      │   │ resend,         │ deleted, disabled,
    revoked by an admin     v   │ re-enabled      v revoked by an admin
                           revoked <──────────────┘

Every transition is written in one transaction with the outbox message that
tells the deliverer about it, so that a committed change always gets its
message and a failed one never does. The accept token is random; only its
SHA-256 digest is kept with the invitation (`accept_key`), and the outbox
holds the token only until the message carrying it has been delivered or
given up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from scim_gateway.auth import generate_token, hash_token
from scim_gateway.backends.base import USER, Backend, StoredResource, Transaction
from scim_gateway.backends.columns import new_ordered_id, utc_now
from scim_gateway.backends.invitations import (
    DeliveryStatus,
    InvitationRecord,
    InvitationState,
    OutboxMessage,
)
from scim_gateway.config import Settings
from scim_gateway.errors import Conflict, NotFound
from scim_gateway.projection import Projection
from scim_gateway.schemas import INVITATION_USER

__all__ = [
    "ACCEPT_PATH",
    "AcceptRefused",
    "InvitationPolicy",
    "Invitations",
    "accept_key",
    "invitation_attributes",
    "new_accept_token",
]

ACCEPT_PATH = "/invitations/accept"

INVITED = InvitationState.INVITED
ACCEPTED = InvitationState.ACCEPTED
CONFIRMED = InvitationState.CONFIRMED
REVOKED = InvitationState.REVOKED
OPEN = frozenset({INVITED, ACCEPTED})


class AcceptRefused(Exception):
    """An accept token that cannot be used: `reason` is `unknown` or `expired`.

    `unknown` covers a token that never existed, was used, or was replaced
    by a newer invitation: the person cannot tell these apart, nor should
    anyone guessing tokens.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"the invitation link is {reason}")
        self.reason = reason


@dataclass(frozen=True)
class InvitationPolicy:
    """The configurable rules (docs/configuration.md)."""

    ttl: timedelta = timedelta(days=7)
    reinvite_on_enable: bool = True
    confirm_without_accept: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> InvitationPolicy:
        return cls(
            ttl=timedelta(seconds=settings.invitation_ttl_seconds),
            reinvite_on_enable=settings.reinvite_on_enable,
            confirm_without_accept=settings.confirm_without_accept,
        )


class Invitations:
    """Every tenant's invitations over one backend: hooks, actions, and reads.

    `new_user_invitation` is what a new user is created with; the `user_*`
    hooks run inside the SCIM handlers' transactions. `accept`
    is for the person (the accept page, or a host application that serves
    its own); `confirm`, `resend` and `revoke` are for administrators.

    Args:
        on_enqueue: called after a transaction of this object's own commits an
            outbox message, to wake the delivery worker.
    """

    def __init__(
        self,
        backend: Backend,
        policy: InvitationPolicy,
        *,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.backend = backend
        self.policy = policy
        self._on_enqueue = on_enqueue or (lambda: None)

    # Hooks of the SCIM handlers.

    def new_user_invitation(
        self, tenant: str, user_id: str, document: dict[str, Any], link_base: str
    ) -> tuple[InvitationRecord, OutboxMessage] | None:
        """The invitation of a user about to be created, and the message that
        sends it, for the backend to write with the user (`Backend.create`);
        None for a user created disabled. Call `enqueued` once it is written.
        """
        if not _is_active(document):
            return None
        return self._invitation(tenant, user_id, document, link_base)

    def enqueued(self) -> None:
        """Wake the delivery worker: a message written elsewhere was committed."""
        self._on_enqueue()

    # The other hooks run inside the handler's transaction.

    async def user_replaced(
        self,
        tx: Transaction,
        before: StoredResource,
        document: dict[str, Any],
        link_base: str,
    ) -> None:
        """Revoke on disable; invite on enable (again, if so configured)."""
        if before.resource_type != USER:
            return
        was_active, is_active = _is_active(before.document), _is_active(document)
        if was_active == is_active:
            return
        record = await tx.get_invitation(before.id)
        if not is_active and record is not None and record.state in OPEN:
            await self._move(tx, record, REVOKED, document)
        elif is_active and self._invites_on_enable(record):
            await self._invite(tx, before.id, document, link_base)

    async def user_deleted(
        self, tx: Transaction, resource_type: str, user_id: str
    ) -> None:
        """Revoke the invitation of a user about to be deleted, if still open."""
        if resource_type != USER:
            return
        record = await tx.get_invitation(user_id)
        if record is None or record.state not in OPEN:
            return
        user = await tx.get(USER, user_id)
        await self._move(tx, record, REVOKED, user.document)

    def _invites_on_enable(self, record: InvitationRecord | None) -> bool:
        if record is None:
            return True
        return record.state is REVOKED and self.policy.reinvite_on_enable

    # The person's action.

    async def check(self, token: str) -> InvitationRecord:
        """The open invitation a token accepts, without accepting it.

        Raises:
            AcceptRefused: the token is unknown, used or expired.
        """
        record = await self.backend.find_invitation(accept_key(token))
        return _usable(record, utc_now())

    async def accept(self, token: str) -> InvitationRecord:
        """Accept the invitation a token belongs to; the token is then spent.

        Raises:
            AcceptRefused: the token is unknown, used or expired.
        """
        digest = accept_key(token)
        found = _usable(await self.backend.find_invitation(digest), utc_now())
        async with self.backend.transaction(found.tenant) as tx:
            # Read again under the transaction's lock: two clicks, one accept.
            record = await tx.get_invitation(found.user_id)
            if record is None or record.token_digest != digest:
                raise AcceptRefused("unknown")
            record = _usable(record, utc_now())
            user = await tx.get(USER, record.user_id)
            accepted = await self._move(tx, record, ACCEPTED, user.document)
        self._on_enqueue()
        return accepted

    # Administrators' actions.

    async def confirm(self, tenant: str, user_id: str) -> InvitationRecord:
        """Confirm a user who accepted (or was invited, if so configured).

        Raises:
            NotFound: the user has no invitation.
            Conflict: the invitation is in a state that cannot be confirmed.
        """
        allowed = (
            {ACCEPTED, INVITED} if self.policy.confirm_without_accept else {ACCEPTED}
        )
        return await self._admin_move(tenant, user_id, CONFIRMED, allowed)

    async def revoke(self, tenant: str, user_id: str) -> InvitationRecord:
        """Revoke an invitation that is not confirmed yet.

        Raises:
            NotFound: the user has no invitation.
            Conflict: the invitation is confirmed or revoked already.
        """
        return await self._admin_move(tenant, user_id, REVOKED, OPEN)

    async def resend(
        self, tenant: str, user_id: str, link_base: str
    ) -> InvitationRecord:
        """Send a new invitation with a new link; the old link stops working.

        For an invitation that is still `invited` (its message failed, or got
        lost) or `revoked` (of a user who is enabled).

        Raises:
            NotFound: the user does not exist.
            Conflict: the user accepted already, or is disabled.
        """
        async with self.backend.transaction(tenant) as tx:
            user = await tx.get(USER, user_id)
            record = await tx.get_invitation(user_id)
            if record is not None and record.state not in (INVITED, REVOKED):
                raise Conflict(
                    f"user {user_id} is {record.state.value}; only an invited or "
                    "revoked user can be invited again"
                )
            if not _is_active(user.document):
                raise Conflict(f"user {user_id} is disabled; enable it first")
            invited = await self._invite(tx, user_id, user.document, link_base)
        self._on_enqueue()
        return invited

    async def _admin_move(
        self,
        tenant: str,
        user_id: str,
        state: InvitationState,
        allowed: set[InvitationState] | frozenset[InvitationState],
    ) -> InvitationRecord:
        async with self.backend.transaction(tenant) as tx:
            record = await tx.get_invitation(user_id)
            if record is None:
                raise NotFound(f"user {user_id} has no invitation")
            if record.state not in allowed:
                verb = {CONFIRMED: "confirm", REVOKED: "revoke"}[state]
                raise Conflict(
                    f"cannot {verb} user {user_id}: the invitation is "
                    f"{record.state.value}"
                )
            user = await tx.get(USER, user_id)
            moved = await self._move(tx, record, state, user.document)
        self._on_enqueue()
        return moved

    # Reads.

    async def get(self, tenant: str, user_id: str) -> InvitationRecord:
        """Raises: NotFound: the user has no invitation."""
        found = await self.backend.get_invitations(tenant, [user_id])
        if user_id not in found:
            raise NotFound(f"user {user_id} has no invitation")
        return found[user_id]

    async def pending(self, tenant: str) -> list[InvitationRecord]:
        """Invitations not confirmed nor revoked yet, oldest first."""
        return await self.backend.list_invitations(tenant, states=OPEN)

    async def extensions_of(
        self,
        tenant: str,
        resources: Sequence[StoredResource],
        projection: Projection,
    ) -> dict[str, dict[str, dict[str, Any]]]:
        """The invitation extension of the users among `resources`, by user id.

        Each value maps the extension's URN to its attributes, as
        `render_resource` takes them. Empty, without a read, unless the
        request asks for the extension (its attributes are `returned: request`).
        """
        if not any(path.uri == INVITATION_USER for path in projection.attributes):
            return {}
        users = [r.id for r in resources if r.resource_type == USER]
        if not users:
            return {}
        records = await self.backend.get_invitations(tenant, users)
        return {
            uid: {INVITATION_USER: invitation_attributes(record)}
            for uid, record in records.items()
        }

    # Writing.

    async def _invite(
        self,
        tx: Transaction,
        user_id: str,
        document: dict[str, Any],
        link_base: str,
    ) -> InvitationRecord:
        record, message = self._invitation(tx.tenant, user_id, document, link_base)
        await tx.put_invitation(record)
        await tx.enqueue(message)
        # The worker's claim waits for this transaction's lock in the memory
        # and SQLite backends; elsewhere it finds the message on its next poll.
        self._on_enqueue()
        return record

    def _invitation(
        self, tenant: str, user_id: str, document: dict[str, Any], link_base: str
    ) -> tuple[InvitationRecord, OutboxMessage]:
        """A new invitation of a user, and the message that sends its link."""
        token, now = new_accept_token(), utc_now()
        expires = now + self.policy.ttl
        payload = {
            **_snapshot(document),
            "acceptUrl": link_base,
            "expiresAt": expires.isoformat(),
        }
        message = OutboxMessage(
            new_ordered_id(), user_id, INVITED.value, payload, token
        )
        record = InvitationRecord(
            tenant=tenant,
            user_id=user_id,
            state=INVITED,
            token_digest=accept_key(token),
            expires_at=expires,
            invited_at=now,
            delivery=DeliveryStatus.PENDING,
            outbox_id=message.id,
        )
        return record, message

    async def _move(
        self,
        tx: Transaction,
        record: InvitationRecord,
        state: InvitationState,
        document: dict[str, Any],
    ) -> InvitationRecord:
        moved = _stamped(replace(record, state=state, token_digest=None), utc_now())
        message = OutboxMessage(
            new_ordered_id(), record.user_id, state.value, _snapshot(document)
        )
        await tx.put_invitation(moved)
        await tx.enqueue(message)
        self._on_enqueue()
        return moved


def new_accept_token() -> str:
    """A new accept token: the millisecond it was made, in hex, a dot, 256 random bits.

    The time leads the key the token is found by (`accept_key`), so new keys
    go to the end of their unique index, as new user ids do, rather than to
    a random page of it that the next commit writes out again; under a run
    of creates that was about 8 % of the SQLite writer's work per new user.
    """
    return f"{time.time_ns() // 1_000_000:012x}.{generate_token()}"


def accept_key(token: str) -> str:
    """What an invitation keeps of its accept token, and is found by.

    The token's SHA-256 digest, after the token's time for a token that has
    one; a token made before tokens carried their time (no dot) keys as its
    bare digest, so links sent by an earlier release keep working.
    """
    digest = hash_token(token)
    made, dot, _ = token.partition(".")
    return f"{made}.{digest}" if dot else digest


def invitation_attributes(record: InvitationRecord) -> dict[str, Any]:
    """A user's invitation as the SCIM extension shows it (schemas.INVITATION_USER)."""
    values: dict[str, Any] = {
        "state": record.state.value,
        "invitedAt": _instant(record.invited_at),
        "expiresAt": _instant(record.expires_at) if record.state is INVITED else None,
        "acceptedAt": _instant(record.accepted_at),
        "confirmedAt": _instant(record.confirmed_at),
        "revokedAt": _instant(record.revoked_at),
        "deliveryStatus": None if record.delivery is None else record.delivery.value,
        "lastDeliveryError": record.last_delivery_error,
    }
    return {key: value for key, value in values.items() if value is not None}


def _stamped(record: InvitationRecord, now: datetime) -> InvitationRecord:
    """The record with the instant of the state it just entered."""
    if record.state is ACCEPTED:
        return replace(record, accepted_at=now)
    if record.state is CONFIRMED:
        return replace(record, confirmed_at=now)
    return replace(record, revoked_at=now)


def _usable(record: InvitationRecord | None, now: datetime) -> InvitationRecord:
    if record is None or record.state is not INVITED or record.token_digest is None:
        raise AcceptRefused("unknown")
    if record.expires_at is not None and record.expires_at <= now:
        raise AcceptRefused("expired")
    return record


def _is_active(document: dict[str, Any]) -> bool:
    # RFC 7643 §4.1.1: `active` absent says nothing; only false disables.
    return document.get("active") is not False


def _snapshot(document: dict[str, Any]) -> dict[str, Any]:
    """What a deliverer is told about the person, as of the change."""
    user_name = document.get("userName")
    return {
        "userName": user_name if isinstance(user_name, str) else "",
        "displayName": _display_name(document),
        "email": _email(document),
    }


def _display_name(document: dict[str, Any]) -> str | None:
    display = document.get("displayName")
    if isinstance(display, str) and display.strip():
        return display
    name = document.get("name")
    if not isinstance(name, dict):
        return None
    formatted = name.get("formatted")
    if isinstance(formatted, str) and formatted.strip():
        return formatted
    parts = [name.get("givenName"), name.get("familyName")]
    joined = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    return joined or None


def _email(document: dict[str, Any]) -> str | None:
    """The primary e-mail address, else the work one, else the first."""
    emails = document.get("emails")
    if not isinstance(emails, list):
        return None
    candidates = [e for e in emails if isinstance(e, dict)]
    candidates = [e for e in candidates if isinstance(e.get("value"), str)]
    for wanted in (
        lambda e: e.get("primary") is True,
        lambda e: e.get("type") == "work",
        lambda e: True,
    ):
        for email in candidates:
            if wanted(email):
                value: str = email["value"]
                return value
    return None


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
