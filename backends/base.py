"""The backend interface: the contract between the SCIM protocol and storage.

Every call names its tenant. Reads return `StoredResource` values; writes go
through a `Transaction`, so that a PATCH that changes a group's document and
its members (and the side effects it causes) commits as one unit or not at all.

A backend knows the SCIM core attribute names it indexes (`userName`,
`externalId`, `displayName`, `id`, `meta.created`, `meta.lastModified`,
`members.value`, `groups.value`) and nothing about HTTP, schemas or projection.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scim_gateway.backends.errors import VersionMismatchError
from scim_gateway.backends.invitations import (
    InvitationRecord,
    InvitationState,
    OutboxEntry,
    OutboxMessage,
    check_tenant,
)
from scim_gateway.filters.ast import AttrPath, Expr

__all__ = [
    "Backend",
    "GroupRef",
    "Member",
    "Page",
    "Query",
    "SortSpec",
    "StoredResource",
    "Transaction",
]

USER = "User"
GROUP = "Group"


@dataclass(frozen=True)
class Member:
    """A member of a group: the id of a User or Group of the same tenant.

    `type` and `display` are filled in by the backend on read (the member's
    resource type, and its displayName, or userName for a user without one);
    on write only `id` counts.
    """

    id: str
    type: str = USER
    display: str | None = None


@dataclass(frozen=True)
class GroupRef:
    """A group a user belongs to directly, for the read-only `groups` attribute."""

    id: str
    display: str | None = None


class StoredResource:
    """A resource as stored: its SCIM document plus what the backend keeps beside it.

    The document holds the client-writable attributes only: no `id`, `meta`,
    `members` or `groups`. A backend gives it either decoded (`document=`) or
    as the JSON text it stored (`text=`); the other form is made on first use,
    so a page rendered from stored text never decodes it. `text`, when given,
    is exactly the JSON of `document` (the backend wrote it from a normalized
    document). `members` is filled for groups read with members, `groups` for
    users read with groups, both ordered by id; otherwise they are None.
    `created` and `last_modified` are aware UTC datetimes. Treat it as
    immutable: the document is shared, and writers work on copies.

    `memo` is where a reader of the resource may keep what it derived from
    it (the gateway keeps the rendered JSON there): a backend that hands out
    the same object again saves that work, and since the object never
    changes, neither does what was derived from it.
    """

    __slots__ = (
        "_document",
        "_text",
        "created",
        "groups",
        "id",
        "last_modified",
        "members",
        "memo",
        "resource_type",
        "version",
    )

    def __init__(
        self,
        *,
        resource_type: str,
        id: str,
        version: int,
        created: datetime,
        last_modified: datetime,
        document: dict[str, Any] | None = None,
        text: str | None = None,
        members: list[Member] | None = None,
        groups: list[GroupRef] | None = None,
    ) -> None:
        if document is None and text is None:
            raise TypeError("a StoredResource needs its document or its text")
        self.resource_type = resource_type
        self.id = id
        self.version = version
        self.created = created
        self.last_modified = last_modified
        self.members = members
        self.groups = groups
        self._document = document
        self._text = text
        self.memo: object = None

    @property
    def document(self) -> dict[str, Any]:
        if self._document is None:
            assert self._text is not None
            # The standard library keeps integers past 64 bits exact.
            self._document = json.loads(self._text)
        return self._document

    @property
    def text(self) -> str:
        """The document as JSON text (compact when the backend encoded it)."""
        if self._text is None:
            self._text = json.dumps(
                self._document, ensure_ascii=False, separators=(",", ":")
            )
        return self._text

    def with_relations(
        self,
        *,
        members: list[Member] | None = None,
        groups: list[GroupRef] | None = None,
    ) -> StoredResource:
        """The same resource with other `members` and `groups`."""
        return StoredResource(
            resource_type=self.resource_type,
            id=self.id,
            version=self.version,
            created=self.created,
            last_modified=self.last_modified,
            document=self._document,
            text=self._text,
            members=members,
            groups=groups,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredResource):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.resource_type, self.id, self.version))

    def __repr__(self) -> str:
        return (
            f"StoredResource(resource_type={self.resource_type!r}, id={self.id!r},"
            f" version={self.version!r})"
        )

    def _key(self) -> tuple[Any, ...]:
        return (
            self.resource_type,
            self.id,
            self.document,
            self.version,
            self.created,
            self.last_modified,
            self.members,
            self.groups,
        )


@dataclass(frozen=True)
class SortSpec:
    """`sortBy` and `sortOrder` (RFC 7644 §3.4.2.3).

    Case-insensitive strings sort by `str.lower()`, a multi-valued attribute
    by its primary value or else its first, and a complex one by its `value`.
    Resources without a value come last ascending and first descending; ties
    keep creation order.
    """

    path: AttrPath
    descending: bool = False


@dataclass(frozen=True)
class Query:
    """A list request: filter, sort and page (RFC 7644 §3.4.2).

    `start_index` is 1-based (below 1 counts as 1). `count` None means no
    limit; 0 (or less) asks for the total only. Without `sort`, resources
    come in creation order, so pages neither repeat nor skip. `filter` is a
    resolved AST; backends give the answers of `filters.evaluator.matches`.
    """

    filter: Expr | None = None
    sort: SortSpec | None = None
    start_index: int = 1
    count: int | None = None
    with_members: bool = False
    with_groups: bool = False


@dataclass(frozen=True)
class Page:
    resources: list[StoredResource] = field(default_factory=list)
    total: int = 0


class Transaction(ABC):
    """One unit of work in one tenant; committed when its context exits cleanly.

    Every write bumps the resource's version and `lastModified`; so does a
    change of a group's members (an add of members already there, or a
    remove of ids that are not members, changes nothing and bumps nothing).
    Uniqueness (`userName` of users and `displayName` of groups, both folded
    with `str.lower()`) is checked by the store itself, and a clash raises
    `ConflictError`. If the `async with` block raises, nothing of the unit
    is kept. Read through the transaction (`get`) inside it.

    A backend may hold back a write that returns nothing (member changes,
    invitations, outbox messages) and run it with the unit's next call or
    its commit; an error it raises then comes from that call, and the unit
    fails as a whole. Callers treat such an error as the end of the unit.

    Invitations and outbox messages ride in the same unit, so a user and the
    invitation to send to them are committed together or not at all.
    """

    tenant: str

    @abstractmethod
    async def get(
        self,
        resource_type: str,
        resource_id: str,
        *,
        with_members: bool = False,
        with_groups: bool = False,
    ) -> StoredResource:
        """Read a resource and lock it for the rest of the transaction.

        Raises:
            NotFoundError: no such resource in this tenant.
        """

    @abstractmethod
    async def create(
        self,
        resource_type: str,
        document: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> StoredResource:
        """Store a new resource, version 1, with a fresh id or `resource_id`.

        Raises:
            ConflictError: a unique attribute, or the id given, is taken.
        """

    @abstractmethod
    async def replace(
        self,
        resource_type: str,
        resource_id: str,
        document: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> StoredResource:
        """Replace a resource's document, keeping its id, created and members.

        Raises:
            NotFoundError: no such resource.
            VersionMismatchError: `expected_version` is not the stored one.
            ConflictError: a unique attribute is taken by another resource.
        """

    @abstractmethod
    async def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> None:
        """Delete a resource and every membership it takes part in.

        The groups it was a member of get a new version.

        Raises:
            NotFoundError: no such resource.
            VersionMismatchError: `expected_version` is not the stored one.
        """

    @abstractmethod
    async def add_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        """Add members to a group; ids already there are left alone.

        Raises:
            NotFoundError: the group does not exist.
            MemberNotFoundError: a member id is no user or group of the tenant.
        """

    @abstractmethod
    async def remove_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        """Remove members from a group; ids that are not members are ignored.

        Raises:
            NotFoundError: the group does not exist.
        """

    @abstractmethod
    async def replace_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        """Make `member_ids` the group's whole member list.

        Raises:
            NotFoundError: the group does not exist.
            MemberNotFoundError: a member id is no user or group of the tenant.
        """

    @abstractmethod
    async def get_invitation(self, user_id: str) -> InvitationRecord | None:
        """The invitation of a user of this tenant, or None if it has none."""

    @abstractmethod
    async def put_invitation(self, record: InvitationRecord) -> None:
        """Create or replace the invitation of `record.user_id` in this tenant."""

    @abstractmethod
    async def enqueue(self, message: OutboxMessage) -> None:
        """Add a message to the outbox; it can be claimed once the unit commits."""


class Backend(ABC):
    """Storage for the resources of every tenant.

    A backend is opened once (`open`, which also applies migrations) and
    closed once (`close`); reads and transactions may run concurrently from
    many tasks in between.
    """

    name: str = "backend"

    @abstractmethod
    async def open(self) -> None:
        """Connect and bring the schema up to date. Idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections. Idempotent."""

    @abstractmethod
    async def ping(self) -> None:
        """Check that the store answers.

        Raises:
            UnavailableError: it does not.
        """

    @abstractmethod
    def transaction(self, tenant: str) -> AbstractAsyncContextManager[Transaction]:
        """Open a unit of work in `tenant`; it commits on a clean exit."""

    @abstractmethod
    async def get(
        self,
        tenant: str,
        resource_type: str,
        resource_id: str,
        *,
        with_members: bool = False,
        with_groups: bool = False,
    ) -> StoredResource:
        """Read one resource.

        Raises:
            NotFoundError: no such resource in this tenant.
        """

    async def change_members(
        self,
        tenant: str,
        group_id: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        expected_version: int | None = None,
    ) -> StoredResource:
        """Remove, then add, members of a group by id, as a unit of work of its own.

        What a transaction that reads the group, checks its version, then
        calls `remove_members` and `add_members` does, all or nothing: a PATCH
        that adds or removes members and changes nothing else (Entra's member
        adds) never needs the group's document. The version is bumped if a
        membership came or went. This default runs that transaction; a backend
        may do the same in one write.

        Args:
            add: ids to add; ids already members are left alone.
            remove: ids to remove; ids that are not members are ignored. It
                must not share an id with `add`.
            expected_version: the group's version must be this one (If-Match),
                at the moment the change is made; None accepts any.

        Returns:
            The group after the change, without its members.

        Raises:
            NotFoundError: the group does not exist.
            VersionMismatchError: the group is at another version.
            MemberNotFoundError: an id to add is no user or group of the tenant;
                nothing changed.
        """
        async with self.transaction(tenant) as transaction:
            group = await transaction.get(GROUP, group_id)
            if expected_version is not None and group.version != expected_version:
                raise VersionMismatchError(expected_version, group.version)
            if not add and not remove:
                return group
            if remove:
                await transaction.remove_members(group_id, remove)
            if add:
                await transaction.add_members(group_id, add)
            return await transaction.get(GROUP, group_id)

    async def create(
        self,
        tenant: str,
        resource_type: str,
        document: dict[str, Any],
        *,
        resource_id: str | None = None,
        invitation: InvitationRecord | None = None,
        message: OutboxMessage | None = None,
    ) -> StoredResource:
        """Store a new resource as a unit of work of its own, all or nothing
        with the invitation and outbox message that come with it.

        A create that names no members (every new user) needs nothing read
        and nothing else written, so a backend may do it in one write: one
        statement on PostgreSQL, one trip to the writer on SQLite. This
        default runs a transaction.

        Args:
            resource_id: the new resource's id, when the invitation and the
                message already name it; a fresh one by default.
            invitation: put in the resource's tenant with it.
            message: enqueued in the resource's tenant with it.

        Raises:
            ConflictError: a unique attribute, or the id given, is taken;
                nothing was written.
        """
        if invitation is not None:
            check_tenant(invitation, tenant)
        async with self.transaction(tenant) as transaction:
            stored = await transaction.create(
                resource_type, document, resource_id=resource_id
            )
            if invitation is not None:
                await transaction.put_invitation(invitation)
            if message is not None:
                await transaction.enqueue(message)
        return stored

    @abstractmethod
    async def query(self, tenant: str, resource_type: str, query: Query) -> Page:
        """Return one page of the resources of a type that match the query."""

    @abstractmethod
    async def get_invitations(
        self, tenant: str, user_ids: Sequence[str]
    ) -> dict[str, InvitationRecord]:
        """The invitations of those of `user_ids` that have one, by user id."""

    @abstractmethod
    async def list_invitations(
        self, tenant: str, *, states: Collection[InvitationState] | None = None
    ) -> list[InvitationRecord]:
        """A tenant's invitations (in `states`, if given), oldest invitation first."""

    @abstractmethod
    async def find_invitation(self, token_digest: str) -> InvitationRecord | None:
        """The invitation whose accept token has this digest, in any tenant."""

    @abstractmethod
    async def claim_outbox(self, *, limit: int, lease: float) -> list[OutboxEntry]:
        """Claim up to `limit` due messages for `lease` seconds, oldest first.

        A message is due when it is pending, its retry time has come, and no
        one holds an unexpired claim on it. A user's messages go out in the
        order they were enqueued: one is claimable only when no older message
        of the same user is still pending. Concurrent callers, in this
        process or another, never claim one message twice within a lease.
        """

    @abstractmethod
    async def complete_outbox(self, entry: OutboxEntry) -> bool:
        """Record a delivery; False if `entry.claim` no longer holds the message.

        The message leaves the outbox; the invitation it carries is marked
        delivered.
        """

    async def complete_outbox_many(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        """`complete_outbox` for each entry, in order; a backend may do it in one write.

        The outbox worker records a delivered batch at once, so that each
        delivery does not cost a write of its own.
        """
        return [await self.complete_outbox(entry) for entry in entries]

    @abstractmethod
    async def retry_outbox(
        self, entry: OutboxEntry, error: str, *, retry_at: datetime
    ) -> bool:
        """Release a failed attempt for another one at `retry_at`.

        False if `entry.claim` no longer holds the message.
        """

    @abstractmethod
    async def fail_outbox(self, entry: OutboxEntry, error: str) -> bool:
        """Give a message up after its last attempt; its secret is erased.

        The invitation it carries is marked failed with `error`. False if
        `entry.claim` no longer holds the message.
        """
