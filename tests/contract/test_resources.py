"""Create, read, replace and delete on every backend, with uniqueness and versions."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest

from scim_gateway.backends.base import GROUP, USER, Backend
from scim_gateway.backends.errors import (
    ConflictError,
    NotFoundError,
    VersionMismatchError,
)
from tests.contract.helpers import TENANT, create, create_group, create_user


class TestCreateAndGet:
    async def test_create_returns_the_document_with_a_fresh_id_and_version_one(
        self, backend: Backend
    ) -> None:
        created = await create_user(backend, "ann", title="Analyst")

        assert created.resource_type == USER
        assert created.document == {"userName": "ann", "title": "Analyst"}
        assert created.version == 1
        assert len(created.id) == 36
        assert created.created == created.last_modified

    async def test_timestamps_are_aware_utc(self, backend: Backend) -> None:
        created = await create_user(backend, "ann")

        assert created.created.utcoffset() == timedelta(0)
        assert created.created.tzinfo is not None
        assert created.created.astimezone(UTC) == created.created

    async def test_get_returns_what_create_stored(self, backend: Backend) -> None:
        document: dict[str, Any] = {
            "userName": "zoë",
            "name": {"givenName": "Zoë"},
            "emails": [{"value": "z@example.com", "primary": True}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "department": "R&D"
            },
        }
        created = await create(backend, USER, document)

        found = await backend.get(TENANT, USER, created.id)

        assert found == created

    async def test_each_create_gets_its_own_id(self, backend: Backend) -> None:
        first = await create_user(backend, "ann")
        second = await create_user(backend, "bo")

        assert first.id != second.id

    async def test_get_of_an_unknown_id_is_not_found(self, backend: Backend) -> None:
        with pytest.raises(NotFoundError) as caught:
            await backend.get(TENANT, USER, "no-such-id")

        assert (caught.value.resource_type, caught.value.resource_id) == (
            USER,
            "no-such-id",
        )

    async def test_get_under_the_wrong_resource_type_is_not_found(
        self, backend: Backend
    ) -> None:
        user = await create_user(backend, "ann")

        with pytest.raises(NotFoundError):
            await backend.get(TENANT, GROUP, user.id)

    async def test_changing_the_returned_document_changes_nothing_stored(
        self, backend: Backend
    ) -> None:
        created = await create_user(backend, "ann")
        created.document["title"] = "changed"

        found = await backend.get(TENANT, USER, created.id)

        assert "title" not in found.document


class TestReplace:
    async def test_replace_keeps_id_and_created_and_bumps_version(
        self, backend: Backend
    ) -> None:
        user = await create_user(backend, "ann")

        async with backend.transaction(TENANT) as transaction:
            replaced = await transaction.replace(
                USER, user.id, {"userName": "ann", "title": "Boss"}
            )

        assert (replaced.id, replaced.created, replaced.version) == (
            user.id,
            user.created,
            2,
        )
        assert replaced.last_modified >= user.last_modified
        assert replaced.document == {"userName": "ann", "title": "Boss"}
        assert await backend.get(TENANT, USER, user.id) == replaced

    async def test_replace_with_the_stored_version_succeeds(
        self, backend: Backend
    ) -> None:
        user = await create_user(backend, "ann")

        async with backend.transaction(TENANT) as transaction:
            replaced = await transaction.replace(
                USER, user.id, {"userName": "ann2"}, expected_version=1
            )

        assert replaced.version == 2

    async def test_replace_with_a_stale_version_is_a_mismatch_and_changes_nothing(
        self, backend: Backend
    ) -> None:
        user = await create_user(backend, "ann")

        with pytest.raises(VersionMismatchError) as caught:
            async with backend.transaction(TENANT) as transaction:
                await transaction.replace(
                    USER, user.id, {"userName": "x"}, expected_version=7
                )

        assert (caught.value.expected, caught.value.actual) == (7, 1)
        assert await backend.get(TENANT, USER, user.id) == user

    async def test_replace_of_an_unknown_id_is_not_found(
        self, backend: Backend
    ) -> None:
        with pytest.raises(NotFoundError):
            async with backend.transaction(TENANT) as transaction:
                await transaction.replace(USER, "no-such-id", {"userName": "x"})

    async def test_replace_with_a_stale_version_of_an_unknown_id_is_not_found(
        self, backend: Backend
    ) -> None:
        with pytest.raises(NotFoundError):
            async with backend.transaction(TENANT) as transaction:
                await transaction.replace(
                    USER, "no-such-id", {"userName": "x"}, expected_version=1
                )


class TestDelete:
    async def test_delete_removes_the_resource(self, backend: Backend) -> None:
        user = await create_user(backend, "ann")

        async with backend.transaction(TENANT) as transaction:
            await transaction.delete(USER, user.id)

        with pytest.raises(NotFoundError):
            await backend.get(TENANT, USER, user.id)

    async def test_delete_with_a_stale_version_is_a_mismatch_and_keeps_it(
        self, backend: Backend
    ) -> None:
        user = await create_user(backend, "ann")

        with pytest.raises(VersionMismatchError):
            async with backend.transaction(TENANT) as transaction:
                await transaction.delete(USER, user.id, expected_version=2)

        assert await backend.get(TENANT, USER, user.id) == user

    async def test_delete_with_the_stored_version_succeeds(
        self, backend: Backend
    ) -> None:
        user = await create_user(backend, "ann")

        async with backend.transaction(TENANT) as transaction:
            await transaction.delete(USER, user.id, expected_version=1)

        with pytest.raises(NotFoundError):
            await backend.get(TENANT, USER, user.id)

    async def test_delete_of_an_unknown_id_is_not_found(self, backend: Backend) -> None:
        with pytest.raises(NotFoundError):
            async with backend.transaction(TENANT) as transaction:
                await transaction.delete(USER, "no-such-id")

    async def test_delete_under_the_wrong_resource_type_is_not_found(
        self, backend: Backend
    ) -> None:
        user = await create_user(backend, "ann")

        with pytest.raises(NotFoundError):
            async with backend.transaction(TENANT) as transaction:
                await transaction.delete(GROUP, user.id)

        assert await backend.get(TENANT, USER, user.id) == user


class TestUniqueness:
    @pytest.mark.parametrize(
        "taken", ["ann@example.com", "ANN@example.COM", "Ann@Example.com"]
    )
    async def test_create_with_a_user_name_differing_only_in_case_conflicts(
        self, backend: Backend, taken: str
    ) -> None:
        await create_user(backend, "ann@example.com")

        with pytest.raises(ConflictError) as caught:
            await create_user(backend, taken)

        assert caught.value.attribute == "userName"

    async def test_user_names_fold_beyond_ascii(self, backend: Backend) -> None:
        await create_user(backend, "zoë.müller")

        with pytest.raises(ConflictError):
            await create_user(backend, "ZOË.MÜLLER")

    async def test_replace_to_another_users_name_in_other_case_conflicts(
        self, backend: Backend
    ) -> None:
        await create_user(backend, "ann")
        bo = await create_user(backend, "bo")

        with pytest.raises(ConflictError) as caught:
            async with backend.transaction(TENANT) as transaction:
                await transaction.replace(USER, bo.id, {"userName": "ANN"})

        assert caught.value.attribute == "userName"
        assert await backend.get(TENANT, USER, bo.id) == bo

    async def test_replace_may_change_the_case_of_its_own_user_name(
        self, backend: Backend
    ) -> None:
        ann = await create_user(backend, "ann")

        async with backend.transaction(TENANT) as transaction:
            replaced = await transaction.replace(USER, ann.id, {"userName": "ANN"})

        assert replaced.document["userName"] == "ANN"

    async def test_a_user_name_freed_by_delete_can_be_taken_again(
        self, backend: Backend
    ) -> None:
        ann = await create_user(backend, "ann")
        async with backend.transaction(TENANT) as transaction:
            await transaction.delete(USER, ann.id)

        again = await create_user(backend, "Ann")

        assert again.id != ann.id

    async def test_a_user_name_freed_by_a_rename_can_be_taken_again(
        self, backend: Backend
    ) -> None:
        ann = await create_user(backend, "ann")
        async with backend.transaction(TENANT) as transaction:
            await transaction.replace(USER, ann.id, {"userName": "anna"})

        again = await create_user(backend, "ANN")

        assert again.document["userName"] == "ANN"

    async def test_group_display_names_are_unique_regardless_of_case(
        self, backend: Backend
    ) -> None:
        await create_group(backend, "Sales")

        with pytest.raises(ConflictError) as caught:
            await create_group(backend, "SALES")

        assert caught.value.attribute == "displayName"

    async def test_replace_of_a_group_to_a_taken_display_name_conflicts(
        self, backend: Backend
    ) -> None:
        await create_group(backend, "Sales")
        ops = await create_group(backend, "Ops")

        with pytest.raises(ConflictError):
            async with backend.transaction(TENANT) as transaction:
                await transaction.replace(GROUP, ops.id, {"displayName": "sales"})

    async def test_users_may_share_a_display_name(self, backend: Backend) -> None:
        await create_user(backend, "ann", displayName="Pat")

        second = await create_user(backend, "bo", displayName="Pat")

        assert second.document["displayName"] == "Pat"

    async def test_a_user_and_a_group_may_share_a_name(self, backend: Backend) -> None:
        await create_user(backend, "sales", displayName="sales")

        group = await create_group(backend, "sales")

        assert group.document["displayName"] == "sales"
