"""Group memberships: add, remove, replace, and reading them from both ends."""

from __future__ import annotations

import pytest

from scim_gateway.backends.base import GROUP, USER, Backend, GroupRef, Member, Query
from scim_gateway.backends.errors import MemberNotFoundError, NotFoundError
from tests.contract.helpers import (
    TENANT,
    add_members,
    create_group,
    create_user,
    member_ids,
)


async def test_members_are_read_with_type_and_display(backend: Backend) -> None:
    ann = await create_user(backend, "ann", displayName="Ann Lee")
    bo = await create_user(backend, "bo")
    admins = await create_group(backend, "Admins")
    staff = await create_group(backend, "Staff", members=[ann.id, bo.id, admins.id])

    found = await backend.get(TENANT, GROUP, staff.id, with_members=True)

    assert found.members is not None
    assert sorted(found.members, key=lambda m: m.id) == sorted(
        [
            Member(ann.id, USER, "Ann Lee"),
            Member(bo.id, USER, "bo"),
            Member(admins.id, GROUP, "Admins"),
        ],
        key=lambda m: m.id,
    )


async def test_members_are_left_out_unless_asked_for(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    group = await create_group(backend, "Staff", members=[ann.id])

    found = await backend.get(TENANT, GROUP, group.id)

    assert (found.members, found.groups) == (None, None)


async def test_a_group_without_members_reads_an_empty_list(backend: Backend) -> None:
    group = await create_group(backend, "Staff")

    found = await backend.get(TENANT, GROUP, group.id, with_members=True)

    assert found.members == []


async def test_adding_members_bumps_the_group_version(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    group = await create_group(backend, "Staff")

    await add_members(backend, group.id, [ann.id])

    found = await backend.get(TENANT, GROUP, group.id)
    assert found.version == group.version + 1
    assert found.last_modified >= group.last_modified


async def test_adding_a_member_twice_keeps_one_and_the_version(
    backend: Backend,
) -> None:
    ann = await create_user(backend, "ann")
    group = await create_group(backend, "Staff", members=[ann.id])
    before = await backend.get(TENANT, GROUP, group.id)

    await add_members(backend, group.id, [ann.id, ann.id])

    after = await backend.get(TENANT, GROUP, group.id)
    assert await member_ids(backend, group.id) == [ann.id]
    assert after.version == before.version


async def test_adding_an_unknown_member_adds_none_of_the_list(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    group = await create_group(backend, "Staff")

    with pytest.raises(MemberNotFoundError) as caught:
        await add_members(backend, group.id, [ann.id, "ghost-1", "ghost-2"])

    assert caught.value.member_ids == ["ghost-1", "ghost-2"]
    assert await member_ids(backend, group.id) == []


async def test_adding_to_an_unknown_group_is_not_found(backend: Backend) -> None:
    ann = await create_user(backend, "ann")

    with pytest.raises(NotFoundError) as caught:
        await add_members(backend, "no-such-group", [ann.id])

    assert caught.value.resource_type == GROUP


async def test_a_user_id_is_no_group(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    bo = await create_user(backend, "bo")

    with pytest.raises(NotFoundError):
        await add_members(backend, ann.id, [bo.id])


async def test_remove_members_drops_them_and_ignores_non_members(
    backend: Backend,
) -> None:
    ann = await create_user(backend, "ann")
    bo = await create_user(backend, "bo")
    group = await create_group(backend, "Staff", members=[ann.id, bo.id])

    async with backend.transaction(TENANT) as transaction:
        await transaction.remove_members(group.id, [ann.id, "not-a-member"])

    assert await member_ids(backend, group.id) == [bo.id]


async def test_removing_no_member_keeps_the_version(backend: Backend) -> None:
    group = await create_group(backend, "Staff")

    async with backend.transaction(TENANT) as transaction:
        await transaction.remove_members(group.id, ["not-a-member"])

    assert (await backend.get(TENANT, GROUP, group.id)).version == group.version


async def test_remove_members_of_an_unknown_group_is_not_found(
    backend: Backend,
) -> None:
    with pytest.raises(NotFoundError):
        async with backend.transaction(TENANT) as transaction:
            await transaction.remove_members("no-such-group", ["x"])


async def test_replace_members_makes_the_list_exactly_that(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    bo = await create_user(backend, "bo")
    cy = await create_user(backend, "cy")
    group = await create_group(backend, "Staff", members=[ann.id, bo.id])

    async with backend.transaction(TENANT) as transaction:
        await transaction.replace_members(group.id, [bo.id, cy.id])

    assert sorted(await member_ids(backend, group.id)) == sorted([bo.id, cy.id])


async def test_replace_members_with_nothing_empties_the_group(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    group = await create_group(backend, "Staff", members=[ann.id])

    async with backend.transaction(TENANT) as transaction:
        await transaction.replace_members(group.id, [])

    assert await member_ids(backend, group.id) == []


async def test_replace_members_with_an_unknown_id_changes_nothing(
    backend: Backend,
) -> None:
    ann = await create_user(backend, "ann")
    group = await create_group(backend, "Staff", members=[ann.id])

    with pytest.raises(MemberNotFoundError):
        async with backend.transaction(TENANT) as transaction:
            await transaction.replace_members(group.id, ["ghost"])

    assert await member_ids(backend, group.id) == [ann.id]


async def test_deleting_a_user_removes_its_memberships(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    bo = await create_user(backend, "bo")
    group = await create_group(backend, "Staff", members=[ann.id, bo.id])
    before = await backend.get(TENANT, GROUP, group.id)

    async with backend.transaction(TENANT) as transaction:
        await transaction.delete(USER, ann.id)

    after = await backend.get(TENANT, GROUP, group.id)
    assert await member_ids(backend, group.id) == [bo.id]
    assert after.version == before.version + 1


async def test_deleting_a_group_removes_its_memberships(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    staff = await create_group(backend, "Staff", members=[ann.id])
    everyone = await create_group(backend, "Everyone", members=[staff.id])

    async with backend.transaction(TENANT) as transaction:
        await transaction.delete(GROUP, staff.id)

    user = await backend.get(TENANT, USER, ann.id, with_groups=True)
    assert user.groups == []
    assert await member_ids(backend, everyone.id) == []


async def test_a_user_is_read_with_the_groups_it_belongs_to(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    staff = await create_group(backend, "Staff", members=[ann.id])
    admins = await create_group(backend, "Admins", members=[ann.id])
    await create_group(backend, "Others")

    found = await backend.get(TENANT, USER, ann.id, with_groups=True)

    assert found.groups is not None
    assert sorted(found.groups, key=lambda g: g.id) == sorted(
        [GroupRef(staff.id, "Staff"), GroupRef(admins.id, "Admins")], key=lambda g: g.id
    )


async def test_a_page_of_users_is_read_with_their_groups(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    bo = await create_user(backend, "bo")
    staff = await create_group(backend, "Staff", members=[ann.id])

    page = await backend.query(TENANT, USER, Query(with_groups=True))

    groups = {user.id: user.groups for user in page.resources}
    assert groups == {ann.id: [GroupRef(staff.id, "Staff")], bo.id: []}


async def test_a_page_of_groups_is_read_with_their_members(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    staff = await create_group(backend, "Staff", members=[ann.id])
    empty = await create_group(backend, "Empty")

    page = await backend.query(TENANT, GROUP, Query(with_members=True))

    members = {group.id: group.members for group in page.resources}
    assert members == {staff.id: [Member(ann.id, USER, "ann")], empty.id: []}


async def test_members_display_follows_a_renamed_member(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    group = await create_group(backend, "Staff", members=[ann.id])

    async with backend.transaction(TENANT) as transaction:
        await transaction.replace(
            USER, ann.id, {"userName": "ann", "displayName": "Ann"}
        )

    found = await backend.get(TENANT, GROUP, group.id, with_members=True)
    assert found.members == [Member(ann.id, USER, "Ann")]


async def test_replacing_a_group_document_keeps_its_members(backend: Backend) -> None:
    ann = await create_user(backend, "ann")
    group = await create_group(backend, "Staff", members=[ann.id])

    async with backend.transaction(TENANT) as transaction:
        await transaction.replace(GROUP, group.id, {"displayName": "Staff 2"})

    assert await member_ids(backend, group.id) == [ann.id]
