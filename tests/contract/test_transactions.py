"""Units of work: all or nothing, serialised, and safe under concurrency."""

from __future__ import annotations

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from scim_gateway.backends.base import GROUP, USER, Backend, Query, StoredResource
from scim_gateway.backends.errors import (
    ConflictError,
    MemberNotFoundError,
    NotFoundError,
)
from tests.contract.helpers import TENANT, create_group, create_user, member_ids


class Boom(Exception):
    pass


async def test_an_exception_leaves_nothing_written(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    group = await create_group(backend, "Staff")

    with pytest.raises(Boom):
        async with backend.transaction(TENANT) as transaction:
            await transaction.create(USER, {"userName": "bo"})
            await transaction.add_members(group.id, [ann.id])
            await transaction.replace(GROUP, group.id, {"displayName": "Changed"})
            raise Boom

    users = await backend.query(TENANT, USER, Query())
    assert [user.document["userName"] for user in users.resources] == ["ann"]
    assert await member_ids(backend, group.id) == []
    assert await backend.get(TENANT, GROUP, group.id) == group


async def test_an_unknown_member_fails_the_whole_unit(backend: Backend) -> None:
    # A backend may run a member change with the commit: its error still
    # leaves the `async with` block, and nothing of the unit is kept.
    group = await create_group(backend, "Staff")

    with pytest.raises(MemberNotFoundError):
        async with backend.transaction(TENANT) as transaction:
            await transaction.create(USER, {"userName": "bo"})
            await transaction.add_members(group.id, ["ghost"])

    assert (await backend.query(TENANT, USER, Query())).total == 0
    assert await member_ids(backend, group.id) == []
    assert await backend.get(TENANT, GROUP, group.id) == group


async def test_a_name_taken_in_a_failed_transaction_stays_free(
    backend: Backend,
) -> None:
    with pytest.raises(Boom):
        async with backend.transaction(TENANT) as transaction:
            await transaction.create(USER, {"userName": "bo"})
            raise Boom

    bo = await create_user(backend, "BO")

    assert bo.document["userName"] == "BO"


async def test_an_exception_brings_a_deleted_resource_back(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    group = await create_group(backend, "Staff", members=[ann.id])
    before = await backend.get(TENANT, GROUP, group.id)

    with pytest.raises(Boom):
        async with backend.transaction(TENANT) as transaction:
            await transaction.delete(USER, ann.id)
            raise Boom

    assert await backend.get(TENANT, USER, ann.id) == ann
    assert await member_ids(backend, group.id) == [ann.id]
    assert await backend.get(TENANT, GROUP, group.id) == before


async def test_an_exception_undoes_replaced_members(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    bo = await create_user(backend, "bo")
    group = await create_group(backend, "Staff", members=[ann.id])

    with pytest.raises(Boom):
        async with backend.transaction(TENANT) as transaction:
            await transaction.replace_members(group.id, [bo.id])
            await transaction.remove_members(group.id, [bo.id])
            raise Boom

    assert await member_ids(backend, group.id) == [ann.id]


async def test_a_transaction_reads_its_own_writes(backend: Backend) -> None:
    async with backend.transaction(TENANT) as transaction:
        created = await transaction.create(GROUP, {"displayName": "Staff"})
        user = await transaction.create(USER, {"userName": "ann"})
        await transaction.add_members(created.id, [user.id])
        found = await transaction.get(GROUP, created.id, with_members=True)

    assert found.members is not None
    assert [member.id for member in found.members] == [user.id]
    assert found.version == 2


async def test_a_caught_error_inside_a_transaction_keeps_the_rest(
    backend: Backend,
) -> None:
    await create_user(backend, "ann")

    async with backend.transaction(TENANT) as transaction:
        bo = await transaction.create(USER, {"userName": "bo"})
        with pytest.raises(ConflictError):
            await transaction.create(USER, {"userName": "ANN"})

    assert (await backend.get(TENANT, USER, bo.id)).document == {"userName": "bo"}


async def test_concurrent_creates_of_one_user_name_let_exactly_one_win(
    backend: Backend,
) -> None:
    names = [
        "".join(c.upper() if (i >> k) & 1 else c for k, c in enumerate("pat.doe"))
        for i in range(50)
    ]
    outcomes: list[str] = []

    async def create(user_name: str) -> None:
        try:
            async with backend.transaction(TENANT) as transaction:
                await transaction.create(USER, {"userName": user_name})
        except ConflictError:
            outcomes.append("conflict")
        else:
            outcomes.append("created")

    async with anyio.create_task_group() as tasks:
        for name in names:
            tasks.start_soon(create, name)

    assert sorted(outcomes) == ["conflict"] * 49 + ["created"]
    assert (await backend.query(TENANT, USER, Query())).total == 1


async def test_concurrent_member_additions_all_land(backend: Backend) -> None:
    users = [await create_user(backend, f"user{i}") for i in range(20)]
    group = await create_group(backend, "Staff")

    async def add(user_id: str) -> None:
        async with backend.transaction(TENANT) as transaction:
            await transaction.add_members(group.id, [user_id])

    async with anyio.create_task_group() as tasks:
        for user in users:
            tasks.start_soon(add, user.id)

    assert sorted(await member_ids(backend, group.id)) == sorted(u.id for u in users)
    assert (await backend.get(TENANT, GROUP, group.id)).version == 21


async def test_reads_never_see_uncommitted_changes(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    seen: list[StoredResource] = []

    async def read() -> None:
        seen.append(await backend.get(TENANT, USER, ann.id))

    async with anyio.create_task_group() as tasks:
        with pytest.raises(Boom):
            async with backend.transaction(TENANT) as transaction:
                await transaction.replace(
                    USER, ann.id, {"userName": "ann", "title": "x"}
                )
                tasks.start_soon(read)
                await wait_all_tasks_blocked()
                raise Boom

    assert seen == [ann]


async def test_a_deleted_resource_is_gone_for_the_transaction_too(
    backend: Backend,
) -> None:
    ann = await create_user(backend, "ann")

    async with backend.transaction(TENANT) as transaction:
        await transaction.delete(USER, ann.id)
        with pytest.raises(NotFoundError):
            await transaction.get(USER, ann.id)


async def test_an_undone_delete_keeps_the_creation_order(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    await create_user(backend, "bo")

    with pytest.raises(Boom):
        async with backend.transaction(TENANT) as transaction:
            await transaction.delete(USER, ann.id)
            raise Boom

    page = await backend.query(TENANT, USER, Query())
    assert [user.document["userName"] for user in page.resources] == ["ann", "bo"]
