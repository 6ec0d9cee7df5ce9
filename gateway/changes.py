"""Change events: what a committed write changed, told to an embedder's callbacks.

A write runs in a `RecordingTransaction`, which notes each change as the
endpoint makes it. Only once the backend has committed do the events go to
the subscribed callbacks; under `ChangeDispatchMiddleware` that happens after
the response has been sent, so a slow callback never delays the client. A
callback that fails is logged and changes nothing for the client or for the
other callbacks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from scim_gateway.backends.base import (
    GROUP,
    USER,
    Backend,
    StoredResource,
    Transaction,
)
from scim_gateway.backends.invitations import InvitationRecord, OutboxMessage

__all__ = [
    "ChangeCallback",
    "ChangeDispatchMiddleware",
    "ChangeEvent",
    "ChangeFeed",
    "ChangeKind",
    "RecordingTransaction",
]

logger = logging.getLogger(__name__)


class ChangeKind(StrEnum):
    """What happened to a resource."""

    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_DEACTIVATED = "user.deactivated"
    USER_REACTIVATED = "user.reactivated"
    USER_DELETED = "user.deleted"
    GROUP_CREATED = "group.created"
    GROUP_UPDATED = "group.updated"
    GROUP_DELETED = "group.deleted"
    GROUP_MEMBERS_CHANGED = "group.members_changed"


@dataclass(frozen=True)
class ChangeEvent:
    """One committed change to a user or group of a tenant.

    `added_member_ids` and `removed_member_ids` are filled for
    `GROUP_MEMBERS_CHANGED` only. An add or remove by id names the ids the
    client sent, so an id may already have been a member (add) or not have
    been one (remove): handle events idempotently. A member list replaced as a
    whole is compared with the old one, and only the difference is named.
    """

    kind: ChangeKind
    tenant: str
    resource_type: str
    resource_id: str
    added_member_ids: tuple[str, ...] = ()
    removed_member_ids: tuple[str, ...] = ()


ChangeCallback = Callable[[ChangeEvent], Awaitable[None]]
"""An async function that receives each change event of a gateway."""

_CREATED = {USER: ChangeKind.USER_CREATED, GROUP: ChangeKind.GROUP_CREATED}
_DELETED = {USER: ChangeKind.USER_DELETED, GROUP: ChangeKind.GROUP_DELETED}

# The events of the current request, published once its response is sent.
_pending: ContextVar[list[ChangeEvent] | None] = ContextVar(
    "scim_gateway_pending_changes", default=None
)


class ChangeFeed:
    """The callbacks of one gateway and the transactions that feed them."""

    def __init__(self, callbacks: Iterable[ChangeCallback] = ()) -> None:
        self._callbacks: list[ChangeCallback] = list(callbacks)

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call `callback` with every change from now on; returns an unsubscribe."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def transaction(
        self, backend: Backend, tenant: str
    ) -> AbstractAsyncContextManager[Transaction]:
        """A backend transaction whose changes are published once it commits."""
        if not self._callbacks:
            # Nobody listens: the backend's own, with no reads spent on recording.
            return backend.transaction(tenant)
        return self._recorded(backend, tenant)

    @asynccontextmanager
    async def _recorded(
        self, backend: Backend, tenant: str
    ) -> AsyncIterator[Transaction]:
        async with backend.transaction(tenant) as inner:
            recording = RecordingTransaction(inner)
            yield recording
        await self._after_commit(recording.events)

    async def create(
        self,
        backend: Backend,
        tenant: str,
        resource_type: str,
        document: dict[str, Any],
        *,
        resource_id: str | None = None,
        invitation: InvitationRecord | None = None,
        message: OutboxMessage | None = None,
    ) -> StoredResource:
        """`Backend.create`, its event published once it has committed."""
        stored = await backend.create(
            tenant,
            resource_type,
            document,
            resource_id=resource_id,
            invitation=invitation,
            message=message,
        )
        if self._callbacks:
            event = ChangeEvent(
                _CREATED[resource_type], tenant, resource_type, stored.id
            )
            await self._after_commit([event])
        return stored

    async def change_members(
        self,
        backend: Backend,
        tenant: str,
        group_id: str,
        *,
        add: Sequence[str],
        remove: Sequence[str],
        expected_version: int | None,
    ) -> StoredResource:
        """`Backend.change_members`, its change published once it has committed.

        The event is the one a transaction calling `remove_members` then
        `add_members` would record.
        """
        group = await backend.change_members(
            tenant, group_id, add=add, remove=remove, expected_version=expected_version
        )
        if self._callbacks:
            event = _members_event(tenant, group_id, added=add, removed=remove)
            await self._after_commit([] if event is None else [event])
        return group

    async def _after_commit(self, events: list[ChangeEvent]) -> None:
        pending = _pending.get()
        if pending is not None:
            pending.extend(events)
            return
        await self.publish(events)

    async def publish(self, events: Sequence[ChangeEvent]) -> None:
        """Hand each event to each callback in turn; log a failing callback."""
        for event in events:
            for callback in list(self._callbacks):
                await self._call(callback, event)

    @staticmethod
    async def _call(callback: ChangeCallback, event: ChangeEvent) -> None:
        logger.debug(
            "change_dispatch kind=%s id=%s callback=%s",
            event.kind.value,
            event.resource_id,
            _name(callback),
        )
        try:
            await callback(event)
        except Exception:
            logger.exception(
                "change_callback_failed kind=%s id=%s callback=%s",
                event.kind.value,
                event.resource_id,
                _name(callback),
            )


class ChangeDispatchMiddleware:
    """Publishes the changes a request committed after its response is sent."""

    def __init__(self, app: ASGIApp, *, feed: ChangeFeed) -> None:
        self.app = app
        self.feed = feed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        events: list[ChangeEvent] = []
        token = _pending.set(events)
        try:
            await self.app(scope, receive, send)
        finally:
            _pending.reset(token)
        if events:
            await self.feed.publish(events)


class RecordingTransaction(Transaction):
    """A transaction that notes, as `ChangeEvent`s, every change made through it.

    It costs a read only where the change cannot be told otherwise: the old
    member list before a whole list is replaced, and a user's groups before
    the user is deleted (their memberships end with it).
    """

    def __init__(self, inner: Transaction) -> None:
        self._inner = inner
        self.tenant = inner.tenant
        self.events: list[ChangeEvent] = []
        self._documents: dict[tuple[str, str], dict[str, Any]] = {}

    async def get(
        self,
        resource_type: str,
        resource_id: str,
        *,
        with_members: bool = False,
        with_groups: bool = False,
    ) -> StoredResource:
        stored = await self._inner.get(
            resource_type,
            resource_id,
            with_members=with_members,
            with_groups=with_groups,
        )
        self._documents[(resource_type, resource_id)] = stored.document
        return stored

    async def create(
        self,
        resource_type: str,
        document: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> StoredResource:
        stored = await self._inner.create(
            resource_type, document, resource_id=resource_id
        )
        self._documents[(resource_type, stored.id)] = stored.document
        self._note(_CREATED[resource_type], resource_type, stored.id)
        return stored

    async def replace(
        self,
        resource_type: str,
        resource_id: str,
        document: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> StoredResource:
        before = self._documents.get((resource_type, resource_id))
        if before is None:
            before = (await self.get(resource_type, resource_id)).document
        stored = await self._inner.replace(
            resource_type, resource_id, document, expected_version=expected_version
        )
        self._documents[(resource_type, resource_id)] = stored.document
        kind = _update_kind(resource_type, before, stored.document)
        if kind is not None:
            self._note(kind, resource_type, resource_id)
        return stored

    async def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> None:
        groups: list[str] = []
        if resource_type == USER:
            user = await self._inner.get(USER, resource_id, with_groups=True)
            groups = [group.id for group in user.groups or ()]
        await self._inner.delete(
            resource_type, resource_id, expected_version=expected_version
        )
        self._note(_DELETED[resource_type], resource_type, resource_id)
        for group_id in groups:
            self._note_members(group_id, removed=[resource_id])

    async def add_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        await self._inner.add_members(group_id, member_ids)
        self._note_members(group_id, added=member_ids)

    async def remove_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        await self._inner.remove_members(group_id, member_ids)
        self._note_members(group_id, removed=member_ids)

    async def replace_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        current = await self._inner.get(GROUP, group_id, with_members=True)
        await self._inner.replace_members(group_id, member_ids)
        before = [member.id for member in current.members or ()]
        wanted = list(dict.fromkeys(member_ids))
        self._note_members(
            group_id,
            added=[i for i in wanted if i not in set(before)],
            removed=[i for i in before if i not in set(wanted)],
        )

    # Invitations ride along unchanged: they are no change of a resource.

    async def get_invitation(self, user_id: str) -> InvitationRecord | None:
        return await self._inner.get_invitation(user_id)

    async def put_invitation(self, record: InvitationRecord) -> None:
        await self._inner.put_invitation(record)

    async def enqueue(self, message: OutboxMessage) -> None:
        await self._inner.enqueue(message)

    def _note(self, kind: ChangeKind, resource_type: str, resource_id: str) -> None:
        self.events.append(ChangeEvent(kind, self.tenant, resource_type, resource_id))

    def _note_members(
        self,
        group_id: str,
        *,
        added: Sequence[str] = (),
        removed: Sequence[str] = (),
    ) -> None:
        """Fold a membership change into the group's one event of this unit."""
        new = _members_event(self.tenant, group_id, added=added, removed=removed)
        if new is None:
            return
        for index, event in enumerate(self.events):
            if (
                event.kind is ChangeKind.GROUP_MEMBERS_CHANGED
                and event.resource_id == group_id
            ):
                self.events[index] = _folded(event, added, removed)
                return
        self.events.append(new)


def _members_event(
    tenant: str, group_id: str, *, added: Sequence[str], removed: Sequence[str]
) -> ChangeEvent | None:
    """The event of a membership change by ids, or None when it names no id."""
    if not added and not removed:
        return None
    return ChangeEvent(
        ChangeKind.GROUP_MEMBERS_CHANGED,
        tenant,
        GROUP,
        group_id,
        added_member_ids=tuple(dict.fromkeys(added)),
        removed_member_ids=tuple(dict.fromkeys(removed)),
    )


def _folded(
    event: ChangeEvent, added: Sequence[str], removed: Sequence[str]
) -> ChangeEvent:
    was_added = [i for i in event.added_member_ids if i not in removed]
    was_removed = [i for i in event.removed_member_ids if i not in added]
    return replace(
        event,
        added_member_ids=tuple(dict.fromkeys([*was_added, *added])),
        removed_member_ids=tuple(dict.fromkeys([*was_removed, *removed])),
    )


def _update_kind(
    resource_type: str, before: dict[str, Any], after: dict[str, Any]
) -> ChangeKind | None:
    if before == after:
        return None
    if resource_type != USER:
        return ChangeKind.GROUP_UPDATED
    # A user without `active` counts as active: RFC 7643 §4.1.1 leaves its
    # meaning to the provider, and Entra always sends it.
    was_active = before.get("active", True) is not False
    is_active = after.get("active", True) is not False
    if was_active and not is_active:
        return ChangeKind.USER_DEACTIVATED
    if is_active and not was_active:
        return ChangeKind.USER_REACTIVATED
    return ChangeKind.USER_UPDATED


def _name(callback: ChangeCallback) -> str:
    return getattr(callback, "__qualname__", type(callback).__qualname__)
