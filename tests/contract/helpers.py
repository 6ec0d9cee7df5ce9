"""Small steps the contract tests share: write one resource in its own transaction."""

from __future__ import annotations

from typing import Any

from scim_gateway.backends.base import GROUP, USER, Backend, StoredResource

TENANT = "acme"
OTHER_TENANT = "globex"


async def create(
    backend: Backend,
    resource_type: str,
    document: dict[str, Any],
    *,
    tenant: str = TENANT,
) -> StoredResource:
    async with backend.transaction(tenant) as transaction:
        return await transaction.create(resource_type, document)


async def create_user(
    backend: Backend, user_name: str, *, tenant: str = TENANT, **attributes: Any
) -> StoredResource:
    return await create(
        backend, USER, {"userName": user_name, **attributes}, tenant=tenant
    )


async def create_group(
    backend: Backend,
    display_name: str,
    *,
    tenant: str = TENANT,
    members: list[str] | None = None,
) -> StoredResource:
    async with backend.transaction(tenant) as transaction:
        group = await transaction.create(GROUP, {"displayName": display_name})
        if members:
            await transaction.add_members(group.id, members)
    return group


async def add_members(
    backend: Backend, group_id: str, member_ids: list[str], *, tenant: str = TENANT
) -> None:
    async with backend.transaction(tenant) as transaction:
        await transaction.add_members(group_id, member_ids)


async def member_ids(
    backend: Backend, group_id: str, *, tenant: str = TENANT
) -> list[str]:
    group = await backend.get(tenant, GROUP, group_id, with_members=True)
    assert group.members is not None
    return [member.id for member in group.members]
