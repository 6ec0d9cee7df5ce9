"""`Backend.change_members`: a member-only change as a unit of work of its own."""

from __future__ import annotations

import asyncio

import pytest

from scim_gateway.backends.base import GROUP, Backend, StoredResource
from scim_gateway.backends.errors import (
    MemberNotFoundError,
    NotFoundError,
    VersionMismatchError,
)
from tests.contract.helpers import (
    OTHER_TENANT,
    TENANT,
    add_members,
    create_group,
    create_user,
    member_ids,
)


async def _users(backend: Backend, count: int) -> list[str]:
    return [(await create_user(backend, f"user-{i}")).id for i in range(count)]


async def _group(backend: Backend, members: list[str] | None = None) -> StoredResource:
    group = await create_group(backend, "Staff", members=members)
    return await backend.get(TENANT, GROUP, group.id)


class TestChangeMembers:
    async def test_adding_bumps_the_version_and_answers_the_group(
        self, backend: Backend
    ) -> None:
        [ann] = await _users(backend, 1)
        group = await _group(backend)

        changed = await backend.change_members(TENANT, group.id, add=[ann])

        stored = await backend.get(TENANT, GROUP, group.id)
        assert changed == stored
        assert (changed.id, changed.resource_type) == (group.id, GROUP)
        assert changed.document == group.document
        assert changed.members is None
        assert changed.version == group.version + 1
        assert changed.last_modified >= group.last_modified
        assert changed.created == group.created
        assert await member_ids(backend, group.id) == [ann]

    async def test_adding_members_already_there_keeps_the_version(
        self, backend: Backend
    ) -> None:
        [ann] = await _users(backend, 1)
        group = await _group(backend, [ann])

        changed = await backend.change_members(TENANT, group.id, add=[ann, ann])

        assert changed.version == group.version
        assert await member_ids(backend, group.id) == [ann]

    async def test_removing_drops_members_and_ignores_non_members(
        self, backend: Backend
    ) -> None:
        ann, bo = await _users(backend, 2)
        group = await _group(backend, [ann, bo])

        changed = await backend.change_members(
            TENANT, group.id, remove=[ann, "not-a-member"]
        )

        assert changed.version == group.version + 1
        assert await member_ids(backend, group.id) == [bo]

    async def test_removing_no_member_keeps_the_version(self, backend: Backend) -> None:
        [ann] = await _users(backend, 1)
        group = await _group(backend, [ann])

        changed = await backend.change_members(TENANT, group.id, remove=["nobody"])

        assert changed.version == group.version
        assert await member_ids(backend, group.id) == [ann]

    async def test_removing_and_adding_bump_the_version_as_two_calls_do(
        self, backend: Backend
    ) -> None:
        """The version moves as `remove_members` then `add_members` move it."""
        ann, bo, cy = await _users(backend, 3)
        group = await _group(backend, [ann, bo])

        changed = await backend.change_members(TENANT, group.id, add=[cy], remove=[ann])

        assert changed.version == group.version + 2
        assert sorted(await member_ids(backend, group.id)) == sorted([bo, cy])

    async def test_a_group_may_be_added_as_a_member(self, backend: Backend) -> None:
        group = await _group(backend)
        admins = await create_group(backend, "Admins")

        await backend.change_members(TENANT, group.id, add=[admins.id])

        found = await backend.get(TENANT, GROUP, group.id, with_members=True)
        assert [(m.id, m.type) for m in found.members or []] == [(admins.id, GROUP)]

    async def test_nothing_to_change_answers_the_group_as_it_is(
        self, backend: Backend
    ) -> None:
        group = await _group(backend)

        changed = await backend.change_members(TENANT, group.id)

        assert changed == group

    async def test_an_unknown_member_changes_nothing(self, backend: Backend) -> None:
        ann, bo = await _users(backend, 2)
        group = await _group(backend, [ann])

        with pytest.raises(MemberNotFoundError) as caught:
            await backend.change_members(
                TENANT, group.id, add=[bo, "ghost-1", "ghost-2"], remove=[ann]
            )

        assert caught.value.member_ids == ["ghost-1", "ghost-2"]
        assert await member_ids(backend, group.id) == [ann]
        assert (await backend.get(TENANT, GROUP, group.id)).version == group.version

    async def test_a_member_of_another_tenant_is_not_found(
        self, backend: Backend
    ) -> None:
        foreign = await create_user(backend, "ann", tenant=OTHER_TENANT)
        group = await _group(backend)

        with pytest.raises(MemberNotFoundError):
            await backend.change_members(TENANT, group.id, add=[foreign.id])

        assert await member_ids(backend, group.id) == []

    async def test_an_unknown_group_is_not_found(self, backend: Backend) -> None:
        [ann] = await _users(backend, 1)

        with pytest.raises(NotFoundError) as caught:
            await backend.change_members(TENANT, "no-such-group", add=[ann])

        assert (caught.value.resource_type, caught.value.resource_id) == (
            GROUP,
            "no-such-group",
        )

    async def test_an_unknown_group_is_not_found_before_an_unknown_member(
        self, backend: Backend
    ) -> None:
        with pytest.raises(NotFoundError):
            await backend.change_members(
                TENANT, "no-such-group", add=["ghost"], expected_version=7
            )

    async def test_a_user_id_is_no_group(self, backend: Backend) -> None:
        ann, bo = await _users(backend, 2)

        with pytest.raises(NotFoundError):
            await backend.change_members(TENANT, ann, add=[bo])

    async def test_a_group_of_another_tenant_is_not_found(
        self, backend: Backend
    ) -> None:
        [ann] = await _users(backend, 1)
        group = await _group(backend)

        with pytest.raises(NotFoundError):
            await backend.change_members(OTHER_TENANT, group.id, add=[ann])

    async def test_ids_with_nul_are_not_found_or_ignored(
        self, backend: Backend
    ) -> None:
        [ann] = await _users(backend, 1)
        group = await _group(backend, [ann])

        with pytest.raises(NotFoundError):
            await backend.change_members(TENANT, "g\x00", add=[ann])
        with pytest.raises(MemberNotFoundError):
            await backend.change_members(TENANT, group.id, add=["a\x00"])
        changed = await backend.change_members(TENANT, group.id, remove=["a\x00"])

        assert changed.version == group.version
        assert await member_ids(backend, group.id) == [ann]

    async def test_the_expected_version_lets_the_change_through(
        self, backend: Backend
    ) -> None:
        [ann] = await _users(backend, 1)
        group = await _group(backend)

        changed = await backend.change_members(
            TENANT, group.id, add=[ann], expected_version=group.version
        )

        assert changed.version == group.version + 1
        assert await member_ids(backend, group.id) == [ann]

    async def test_another_version_is_a_mismatch_and_changes_nothing(
        self, backend: Backend
    ) -> None:
        ann, bo = await _users(backend, 2)
        group = await _group(backend, [ann])

        with pytest.raises(VersionMismatchError) as caught:
            await backend.change_members(
                TENANT,
                group.id,
                add=[bo],
                remove=[ann],
                expected_version=group.version + 5,
            )

        assert (caught.value.expected, caught.value.actual) == (
            group.version + 5,
            group.version,
        )
        assert await member_ids(backend, group.id) == [ann]

    async def test_a_mismatch_is_told_before_an_unknown_member(
        self, backend: Backend
    ) -> None:
        group = await _group(backend)

        with pytest.raises(VersionMismatchError):
            await backend.change_members(
                TENANT, group.id, add=["ghost"], expected_version=group.version + 1
            )


class TestConcurrentChangeMembers:
    """Many changes of one group at once, as provisioning threads send them."""

    async def test_concurrent_adds_all_land(self, backend: Backend) -> None:
        users = await _users(backend, 30)
        group = await _group(backend)

        await asyncio.gather(
            *(backend.change_members(TENANT, group.id, add=[u]) for u in users)
        )

        stored = await backend.get(TENANT, GROUP, group.id)
        assert sorted(await member_ids(backend, group.id)) == sorted(users)
        assert stored.version == group.version + 30

    async def test_concurrent_removes_all_land(self, backend: Backend) -> None:
        users = await _users(backend, 20)
        group = await _group(backend, users)

        await asyncio.gather(
            *(backend.change_members(TENANT, group.id, remove=[u]) for u in users)
        )

        stored = await backend.get(TENANT, GROUP, group.id)
        assert await member_ids(backend, group.id) == []
        assert stored.version == group.version + 20

    async def test_changes_beside_transactions_all_land(self, backend: Backend) -> None:
        users = await _users(backend, 20)
        group = await _group(backend)

        async def in_a_transaction(user_id: str) -> None:
            await add_members(backend, group.id, [user_id])

        await asyncio.gather(
            *(backend.change_members(TENANT, group.id, add=[u]) for u in users[:10]),
            *(in_a_transaction(u) for u in users[10:]),
        )

        assert sorted(await member_ids(backend, group.id)) == sorted(users)

    async def test_one_expected_version_lets_exactly_one_change_through(
        self, backend: Backend
    ) -> None:
        users = await _users(backend, 10)
        group = await _group(backend)

        outcomes = await asyncio.gather(
            *(
                backend.change_members(
                    TENANT, group.id, add=[u], expected_version=group.version
                )
                for u in users
            ),
            return_exceptions=True,
        )

        applied = [o for o in outcomes if isinstance(o, StoredResource)]
        refused = [o for o in outcomes if isinstance(o, VersionMismatchError)]
        assert (len(applied), len(refused)) == (1, 9)
        assert {e.actual for e in refused} == {group.version + 1}
        assert await member_ids(backend, group.id) == [
            users[outcomes.index(applied[0])]
        ]
