"""No call ever sees another tenant's data."""

from __future__ import annotations

import pytest

from scim_gateway.backends.base import GROUP, USER, Backend, Query
from scim_gateway.backends.errors import MemberNotFoundError, NotFoundError
from tests.contract.helpers import (
    OTHER_TENANT,
    TENANT,
    create_group,
    create_user,
    member_ids,
)


async def test_the_same_user_name_may_exist_in_two_tenants(backend: Backend) -> None:
    first = await create_user(backend, "ann", tenant=TENANT)

    second = await create_user(backend, "ANN", tenant=OTHER_TENANT)

    assert first.id != second.id


async def test_the_same_group_name_may_exist_in_two_tenants(backend: Backend) -> None:
    await create_group(backend, "Sales", tenant=TENANT)

    group = await create_group(backend, "Sales", tenant=OTHER_TENANT)

    assert group.document["displayName"] == "Sales"


async def test_get_does_not_find_another_tenants_resource(backend: Backend) -> None:
    user = await create_user(backend, "ann", tenant=TENANT)

    with pytest.raises(NotFoundError):
        await backend.get(OTHER_TENANT, USER, user.id)


async def test_query_returns_only_the_tenants_resources(backend: Backend) -> None:
    await create_user(backend, "ann", tenant=TENANT)
    other = await create_user(backend, "bo", tenant=OTHER_TENANT)

    page = await backend.query(OTHER_TENANT, USER, Query())

    assert (page.total, [r.id for r in page.resources]) == (1, [other.id])


async def test_replace_and_delete_do_not_reach_another_tenant(backend: Backend) -> None:
    user = await create_user(backend, "ann", tenant=TENANT)

    with pytest.raises(NotFoundError):
        async with backend.transaction(OTHER_TENANT) as transaction:
            await transaction.replace(USER, user.id, {"userName": "x"})
    with pytest.raises(NotFoundError):
        async with backend.transaction(OTHER_TENANT) as transaction:
            await transaction.delete(USER, user.id)

    assert await backend.get(TENANT, USER, user.id) == user


async def test_a_member_of_another_tenant_is_not_found(backend: Backend) -> None:
    stranger = await create_user(backend, "ann", tenant=OTHER_TENANT)
    group = await create_group(backend, "Sales", tenant=TENANT)

    with pytest.raises(MemberNotFoundError) as caught:
        async with backend.transaction(TENANT) as transaction:
            await transaction.add_members(group.id, [stranger.id])

    assert caught.value.member_ids == [stranger.id]
    assert await member_ids(backend, group.id) == []


async def test_a_group_of_another_tenant_takes_no_members(backend: Backend) -> None:
    group = await create_group(backend, "Sales", tenant=OTHER_TENANT)
    user = await create_user(backend, "ann", tenant=TENANT)

    with pytest.raises(NotFoundError):
        async with backend.transaction(TENANT) as transaction:
            await transaction.add_members(group.id, [user.id])


async def test_transaction_get_does_not_see_another_tenant(backend: Backend) -> None:
    group = await create_group(backend, "Sales", tenant=OTHER_TENANT)

    with pytest.raises(NotFoundError):
        async with backend.transaction(TENANT) as transaction:
            await transaction.get(GROUP, group.id)
