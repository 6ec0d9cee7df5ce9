"""The in-memory backend: dictionaries per tenant, for tests and embedding.

It keeps the same rules as the SQL backends (case-insensitive uniqueness,
versions, memberships, tenants) and evaluates filters with the Python
evaluator over the SCIM view of each resource. A transaction holds a lock
for its duration and writes through an undo log, so a failure leaves
nothing behind; reads wait for the lock, so they never see uncommitted
changes. Inside a transaction, read through the transaction, not the backend.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterator,
    Callable,
    Collection,
    MutableMapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import anyio

from scim_gateway.backends.base import (
    GROUP,
    USER,
    Backend,
    GroupRef,
    Member,
    Page,
    Query,
    StoredResource,
    Transaction,
)
from scim_gateway.backends.columns import (
    fold,
    member_display,
    new_id,
    unique_attribute,
    utc_now,
)
from scim_gateway.backends.errors import (
    ConflictError,
    MemberNotFoundError,
    NotFoundError,
    UnavailableError,
    VersionMismatchError,
)
from scim_gateway.backends.invitations import (
    InvitationRecord,
    InvitationState,
    OutboxEntry,
    OutboxMessage,
)
from scim_gateway.backends.memory_credentials import MemoryCredentials
from scim_gateway.backends.memory_invitations import (
    OutboxRow,
    claim_rows,
    finish_row,
    list_records,
    new_row,
    pick,
)
from scim_gateway.backends.sorting import sort_resources
from scim_gateway.filters.ast import And, Compare, CompareOp, Expr, Not, Or, ValuePath
from scim_gateway.filters.evaluator import matches

__all__ = ["MemoryBackend", "MemoryTransaction"]

_MISSING: Any = object()


@dataclass(frozen=True)
class _Record:
    resource_type: str
    id: str
    document: dict[str, Any]
    version: int
    created: datetime
    last_modified: datetime
    seq: int


@dataclass
class _Tenant:
    resources: dict[str, _Record] = field(default_factory=dict)
    # (resource type, folded userName or displayName) -> id
    names: dict[tuple[str, str], str] = field(default_factory=dict)
    # group id -> {member id: member type}
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    # member id -> {group id: None}, the groups it belongs to directly
    groups: dict[str, dict[str, None]] = field(default_factory=dict)
    # user id -> invitation
    invitations: dict[str, InvitationRecord] = field(default_factory=dict)


class _State:
    """Every tenant's data, and the creation counter shared by all."""

    def __init__(self) -> None:
        self.tenants: dict[str, _Tenant] = {}
        self.seq = 0
        # message id -> row, every tenant's, in enqueue order
        self.outbox: dict[str, OutboxRow] = {}

    def tenant(self, name: str) -> _Tenant:
        found = self.tenants.get(name)
        if found is None:
            found = self.tenants[name] = _Tenant()
        return found


class MemoryTransaction(Transaction):
    """A unit of work that changes the state in place and records how to undo it."""

    def __init__(self, state: _State, tenant: str) -> None:
        self.tenant = tenant
        self._state = state
        self._data = state.tenant(tenant)
        self._undo: list[Callable[[], None]] = []

    def rollback(self) -> None:
        if not self._undo:
            return
        while self._undo:
            self._undo.pop()()
        # A deleted record comes back at the end of the dictionary; queries
        # rely on its order being creation order.
        resources = self._data.resources
        ordered = sorted(resources.values(), key=lambda record: record.seq)
        resources.clear()
        resources.update((record.id, record) for record in ordered)

    def _set(self, mapping: MutableMapping[Any, Any], key: Any, value: Any) -> None:
        self._remember(mapping, key)
        mapping[key] = value

    def _pop(self, mapping: MutableMapping[Any, Any], key: Any) -> None:
        self._remember(mapping, key)
        mapping.pop(key, None)

    def _remember(self, mapping: MutableMapping[Any, Any], key: Any) -> None:
        old = mapping.get(key, _MISSING)

        def undo() -> None:
            if old is _MISSING:
                mapping.pop(key, None)
            else:
                mapping[key] = old

        self._undo.append(undo)

    # Reads.

    async def get(
        self,
        resource_type: str,
        resource_id: str,
        *,
        with_members: bool = False,
        with_groups: bool = False,
    ) -> StoredResource:
        record = self._find(resource_type, resource_id)
        return _stored(self._data, record, with_members, with_groups)

    def _find(self, resource_type: str, resource_id: str) -> _Record:
        record = self._data.resources.get(resource_id)
        if record is None or record.resource_type != resource_type:
            raise NotFoundError(resource_type, resource_id)
        return record

    # Resources.

    async def create(
        self,
        resource_type: str,
        document: dict[str, Any],
        *,
        resource_id: str | None = None,
    ) -> StoredResource:
        if resource_id is not None and resource_id in self._data.resources:
            raise ConflictError("id")
        now = utc_now()
        self._state.seq += 1
        record = _Record(
            resource_type,
            new_id() if resource_id is None else resource_id,
            _copy(document),
            1,
            now,
            now,
            self._state.seq,
        )
        self._claim_name(record)
        self._set(self._data.resources, record.id, record)
        return _stored(self._data, record, False, False)

    async def replace(
        self,
        resource_type: str,
        resource_id: str,
        document: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> StoredResource:
        old = self._find(resource_type, resource_id)
        _check_version(old, expected_version)
        new = replace(
            old,
            document=_copy(document),
            version=old.version + 1,
            last_modified=utc_now(),
        )
        self._claim_name(new)
        self._release_name(old, keep=new)
        self._set(self._data.resources, resource_id, new)
        return _stored(self._data, new, False, False)

    async def delete(
        self,
        resource_type: str,
        resource_id: str,
        *,
        expected_version: int | None = None,
    ) -> None:
        record = self._find(resource_type, resource_id)
        _check_version(record, expected_version)
        for member_id in list(self._data.members.get(resource_id, {})):
            self._unlink(resource_id, member_id)
        for group_id in list(self._data.groups.get(resource_id, {})):
            self._unlink(group_id, resource_id)
            self._touch(group_id)
        self._pop(self._data.members, resource_id)
        self._pop(self._data.groups, resource_id)
        self._release_name(record, keep=None)
        self._pop(self._data.resources, resource_id)

    def _claim_name(self, record: _Record) -> None:
        key = _name_key(record)
        if key is None:
            return
        holder = self._data.names.get(key)
        if holder is not None and holder != record.id:
            raise ConflictError(unique_attribute(record.resource_type) or "id")
        self._set(self._data.names, key, record.id)

    def _release_name(self, record: _Record, *, keep: _Record | None) -> None:
        key = _name_key(record)
        if key is None or (keep is not None and _name_key(keep) == key):
            return
        if self._data.names.get(key) == record.id:
            self._pop(self._data.names, key)

    # Memberships.

    async def add_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        self._find(GROUP, group_id)
        types = self._member_types(member_ids)
        current = self._data.members.get(group_id, {})
        added = [member_id for member_id in types if member_id not in current]
        for member_id in added:
            self._link(group_id, member_id, types[member_id])
        if added:
            self._touch(group_id)

    async def remove_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        self._find(GROUP, group_id)
        current = self._data.members.get(group_id, {})
        removed = [
            member_id for member_id in dict.fromkeys(member_ids) if member_id in current
        ]
        for member_id in removed:
            self._unlink(group_id, member_id)
        if removed:
            self._touch(group_id)

    async def replace_members(self, group_id: str, member_ids: Sequence[str]) -> None:
        self._find(GROUP, group_id)
        types = self._member_types(member_ids)
        current = self._data.members.get(group_id, {})
        removed = [member_id for member_id in current if member_id not in types]
        added = [member_id for member_id in types if member_id not in current]
        for member_id in removed:
            self._unlink(group_id, member_id)
        for member_id in added:
            self._link(group_id, member_id, types[member_id])
        if removed or added:
            self._touch(group_id)

    def _member_types(self, member_ids: Sequence[str]) -> dict[str, str]:
        """Each distinct member id with its resource type, in the order given."""
        resources = self._data.resources
        missing = [m for m in dict.fromkeys(member_ids) if m not in resources]
        if missing:
            raise MemberNotFoundError(missing)
        return {m: resources[m].resource_type for m in member_ids}

    def _link(self, group_id: str, member_id: str, member_type: str) -> None:
        if group_id not in self._data.members:
            self._set(self._data.members, group_id, {})
        if member_id not in self._data.groups:
            self._set(self._data.groups, member_id, {})
        self._set(self._data.members[group_id], member_id, member_type)
        self._set(self._data.groups[member_id], group_id, None)

    def _unlink(self, group_id: str, member_id: str) -> None:
        self._pop(self._data.members[group_id], member_id)
        self._pop(self._data.groups[member_id], group_id)

    def _touch(self, group_id: str) -> None:
        old = self._data.resources[group_id]
        new = replace(old, version=old.version + 1, last_modified=utc_now())
        self._set(self._data.resources, group_id, new)

    # Invitations and the outbox.

    async def get_invitation(self, user_id: str) -> InvitationRecord | None:
        return self._data.invitations.get(user_id)

    async def put_invitation(self, record: InvitationRecord) -> None:
        self._set(self._data.invitations, record.user_id, record)

    async def enqueue(self, message: OutboxMessage) -> None:
        self._set(self._state.outbox, message.id, new_row(self.tenant, message))


class MemoryBackend(Backend, MemoryCredentials):
    """Resources of every tenant in dictionaries of this process; nothing persists."""

    name = "memory"

    def __init__(self) -> None:
        MemoryCredentials.__init__(self)
        self._state = _State()
        self._lock = anyio.Lock()
        self._is_open = False

    async def _forget_resources(self, tenant: str) -> None:
        async with self._lock:
            self._state.tenants.pop(tenant, None)
            outbox = self._state.outbox
            for message_id in [k for k, r in outbox.items() if r.tenant == tenant]:
                del outbox[message_id]

    async def open(self) -> None:
        self._is_open = True

    async def close(self) -> None:
        self._is_open = False

    async def ping(self) -> None:
        self._check_open()

    def transaction(self, tenant: str) -> AbstractAsyncContextManager[Transaction]:
        return self._transaction(tenant)

    @asynccontextmanager
    async def _transaction(self, tenant: str) -> AsyncIterator[Transaction]:
        self._check_open()
        async with self._lock:
            transaction = MemoryTransaction(self._state, tenant)
            try:
                yield transaction
            except BaseException:
                transaction.rollback()
                raise

    async def get(
        self,
        tenant: str,
        resource_type: str,
        resource_id: str,
        *,
        with_members: bool = False,
        with_groups: bool = False,
    ) -> StoredResource:
        self._check_open()
        async with self._lock:
            data = self._state.tenant(tenant)
            record = data.resources.get(resource_id)
            if record is None or record.resource_type != resource_type:
                raise NotFoundError(resource_type, resource_id)
            return _stored(data, record, with_members, with_groups)

    async def query(self, tenant: str, resource_type: str, query: Query) -> Page:
        self._check_open()
        async with self._lock:
            data = self._state.tenant(tenant)
            records = _select(data, resource_type, query.filter)
            if query.sort is not None:
                # Sorting by members or groups is not supported: no view needs them.
                records = sort_resources(
                    records, query.sort, lambda record: _view(data, record, False)
                )
            total = len(records)
            start = max(query.start_index, 1) - 1
            end = None if query.count is None else start + max(query.count, 0)
            page = records[start:end]
            resources = [
                _stored(data, r, query.with_members, query.with_groups) for r in page
            ]
            return Page(resources, total)

    async def get_invitations(
        self, tenant: str, user_ids: Sequence[str]
    ) -> dict[str, InvitationRecord]:
        self._check_open()
        async with self._lock:
            return pick(self._state.tenant(tenant).invitations, user_ids)

    async def list_invitations(
        self, tenant: str, *, states: Collection[InvitationState] | None = None
    ) -> list[InvitationRecord]:
        self._check_open()
        async with self._lock:
            records = self._state.tenant(tenant).invitations.values()
            return list_records(records, states)

    async def find_invitation(self, token_digest: str) -> InvitationRecord | None:
        self._check_open()
        async with self._lock:
            for data in self._state.tenants.values():
                for record in data.invitations.values():
                    if record.token_digest == token_digest:
                        return record
            return None

    async def claim_outbox(self, *, limit: int, lease: float) -> list[OutboxEntry]:
        self._check_open()
        async with self._lock:
            return claim_rows(self._state.outbox, limit=limit, lease=lease)

    async def complete_outbox(self, entry: OutboxEntry) -> bool:
        return await self._finish(entry, error=None, retry_at=None)

    async def retry_outbox(
        self, entry: OutboxEntry, error: str, *, retry_at: datetime
    ) -> bool:
        return await self._finish(entry, error=error, retry_at=retry_at)

    async def fail_outbox(self, entry: OutboxEntry, error: str) -> bool:
        return await self._finish(entry, error=error, retry_at=None)

    async def _finish(
        self, entry: OutboxEntry, *, error: str | None, retry_at: datetime | None
    ) -> bool:
        self._check_open()
        async with self._lock:
            data = self._state.tenants.get(entry.tenant)
            invitations = None if data is None else data.invitations
            return finish_row(
                self._state.outbox, invitations, entry, error=error, retry_at=retry_at
            )

    def _check_open(self) -> None:
        if not self._is_open:
            raise UnavailableError("memory backend is not open")


def _name_key(record: _Record) -> tuple[str, str] | None:
    attribute = unique_attribute(record.resource_type)
    folded = fold(record.document.get(attribute)) if attribute else None
    return None if folded is None else (record.resource_type, folded)


def _check_version(record: _Record, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != record.version:
        raise VersionMismatchError(expected_version, record.version)


def _members(data: _Tenant, group_id: str) -> list[Member]:
    found = data.members.get(group_id, {})
    return [
        Member(member_id, member_type, _display(data, member_id))
        for member_id, member_type in sorted(found.items())
    ]


def _groups(data: _Tenant, member_id: str) -> list[GroupRef]:
    return [
        GroupRef(group_id, _display(data, group_id))
        for group_id in sorted(data.groups.get(member_id, {}))
    ]


def _display(data: _Tenant, resource_id: str) -> str | None:
    record = data.resources[resource_id]
    return member_display(record.resource_type, record.document)


def _stored(
    data: _Tenant, record: _Record, with_members: bool, with_groups: bool
) -> StoredResource:
    is_group, is_user = record.resource_type == GROUP, record.resource_type == USER
    return StoredResource(
        resource_type=record.resource_type,
        id=record.id,
        document=_copy(record.document),
        version=record.version,
        created=record.created,
        last_modified=record.last_modified,
        members=_members(data, record.id) if with_members and is_group else None,
        groups=_groups(data, record.id) if with_groups and is_user else None,
    )


def _view(data: _Tenant, record: _Record, with_relations: bool) -> dict[str, Any]:
    """The resource as the gateway shows it, which the evaluator filters."""
    view = dict(record.document)
    view["id"] = record.id
    view["meta"] = {
        "resourceType": record.resource_type,
        "created": record.created,
        "lastModified": record.last_modified,
    }
    if with_relations and record.resource_type == GROUP:
        view["members"] = [
            {"value": m.id, "display": m.display, "type": m.type}
            for m in _members(data, record.id)
        ]
    if with_relations and record.resource_type == USER:
        view["groups"] = [
            {"value": g.id, "display": g.display, "type": "direct"}
            for g in _groups(data, record.id)
        ]
    return view


def _copy(value: Any) -> Any:
    """A copy of a JSON value, so that no caller shares the stored one."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _select(data: _Tenant, resource_type: str, expr: Expr | None) -> list[_Record]:
    """The records of a type that match `expr`, in creation order."""
    candidates = None if expr is None else _candidates(data, resource_type, expr)
    if candidates is None:
        values = data.resources.values()
        candidates = [r for r in values if r.resource_type == resource_type]
    if expr is None:
        return candidates
    relations = _mentions_relations(expr)
    return [r for r in candidates if matches(expr, _view(data, r, relations))]


def _candidates(data: _Tenant, resource_type: str, expr: Expr) -> list[_Record] | None:
    """The few records an `id` or unique-name equality allows; None: any record.

    Entra looks every user up by `userName eq` before it writes, so this
    lookup spares a scan of the tenant; the filter is still evaluated.
    """
    if isinstance(expr, And):
        left = _candidates(data, resource_type, expr.left)
        return (
            left if left is not None else _candidates(data, resource_type, expr.right)
        )
    if not isinstance(expr, Compare) or expr.op is not CompareOp.EQ:
        return None
    path, value = expr.path, expr.value
    if path.uri is not None or path.sub is not None or not isinstance(value, str):
        return None
    if path.name == "id":
        found = data.resources.get(value)
    elif path.name == unique_attribute(resource_type) and not path.case_exact:
        holder = data.names.get((resource_type, value.lower()))
        found = None if holder is None else data.resources[holder]
    else:
        return None
    return [found] if found is not None and found.resource_type == resource_type else []


def _mentions_relations(expr: Expr) -> bool:
    """Whether the filter reads `members` or `groups`, which cost a lookup."""
    if isinstance(expr, And | Or):
        return _mentions_relations(expr.left) or _mentions_relations(expr.right)
    if isinstance(expr, Not):
        return _mentions_relations(expr.expr)
    path = expr.attr if isinstance(expr, ValuePath) else expr.path
    return path.uri is None and path.name in ("members", "groups")
