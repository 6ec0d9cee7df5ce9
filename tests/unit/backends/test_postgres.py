"""The Postgres backend on the local server: writes, members, locks, migrations."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import string
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from scim_gateway.backends import postgres_invitations as invitations
from scim_gateway.backends.base import (
    GROUP,
    USER,
    GroupRef,
    Member,
    Query,
    StoredResource,
)
from scim_gateway.backends.errors import (
    ConflictError,
    MemberNotFoundError,
    NotFoundError,
    UnavailableError,
    VersionMismatchError,
)
from scim_gateway.backends.postgres import PostgresBackend
from scim_gateway.backends.postgres_migrations import MIGRATIONS
from scim_gateway.backends.postgres_rows import connection_errors
from scim_gateway.filters.ast import AttrPath, Compare, CompareOp
from tests.backends import POSTGRES_URL, postgres_schema

pytestmark = pytest.mark.postgres

TENANT = "acme"
EQ = CompareOp.EQ


def user(user_name: str, /, **attributes: Any) -> dict[str, Any]:
    return {"userName": user_name, **attributes}


async def create(
    backend: PostgresBackend, resource_type: str, document: dict[str, Any]
) -> str:
    async with backend.transaction(TENANT) as tx:
        created = await tx.create(resource_type, document)
    return created.id


class TestCreate:
    async def test_new_resources_get_ids_that_sort_in_creation_order(
        self, postgres: PostgresBackend
    ) -> None:
        ids = []
        for number in range(3):
            ids.append(await create(postgres, USER, user(f"user{number}")))
            await asyncio.sleep(0.002)

        assert sorted(ids) == ids
        assert all(uuid.UUID(resource_id).version == 7 for resource_id in ids)

    async def test_create_stores_the_document_at_version_one(
        self, postgres: PostgresBackend
    ) -> None:
        document = user("ann", name={"givenName": "Ann"}, active=True)

        async with postgres.transaction(TENANT) as tx:
            created = await tx.create(USER, document)
        stored = await postgres.get(TENANT, USER, created.id)

        assert created.version == 1
        assert created.created == created.last_modified
        assert created.created.tzinfo is not None
        assert stored == created
        assert stored.document == document

    async def test_username_taken_in_another_case_is_a_conflict_on_username(
        self, postgres: PostgresBackend
    ) -> None:
        await create(postgres, USER, user("Zoë@Example.com"))

        with pytest.raises(ConflictError) as caught:
            await create(postgres, USER, user("zoË@example.COM"))

        assert caught.value.attribute == "userName"

    async def test_transaction_stays_usable_after_a_conflict(
        self, postgres: PostgresBackend
    ) -> None:
        await create(postgres, USER, user("ann"))

        async with postgres.transaction(TENANT) as tx:
            with pytest.raises(ConflictError):
                await tx.create(USER, user("ANN"))
            other = await tx.create(USER, user("bo"))

        assert (await postgres.get(TENANT, USER, other.id)).document == user("bo")

    async def test_same_username_in_another_tenant_is_allowed(
        self, postgres: PostgresBackend
    ) -> None:
        await create(postgres, USER, user("ann"))

        async with postgres.transaction("other") as tx:
            created = await tx.create(USER, user("ann"))

        assert created.version == 1

    async def test_group_display_name_taken_is_a_conflict_on_display_name(
        self, postgres: PostgresBackend
    ) -> None:
        await create(postgres, GROUP, {"displayName": "Admins"})

        with pytest.raises(ConflictError) as caught:
            await create(postgres, GROUP, {"displayName": "ADMINS"})

        assert caught.value.attribute == "displayName"

    async def test_users_may_share_a_display_name(
        self, postgres: PostgresBackend
    ) -> None:
        await create(postgres, USER, user("a", displayName="Sam"))

        second = await create(postgres, USER, user("b", displayName="Sam"))

        assert (await postgres.get(TENANT, USER, second)).version == 1


class TestLongStrings:
    """The gateway accepts strings of 65,536 characters; B-tree entries hold
    about 2,700 bytes, so the indexes key client strings by their md5."""

    async def test_long_strings_are_stored_found_and_kept_unique(
        self, postgres: PostgresBackend
    ) -> None:
        # Random letters, so that compression cannot make the entries small.
        letters = random.Random(7).choices(string.ascii_letters + "äöü", k=20_000)
        long_name = "".join(letters)
        emails = [{"value": long_name + "@example.com", "type": "work"}]
        document = user(long_name, externalId=long_name, emails=emails)

        created_id = await create(postgres, USER, document)
        found = [
            await postgres.query(TENANT, USER, Query(filter=Compare(path, EQ, value)))
            for path, value in [
                (AttrPath("userName"), long_name.upper()),
                (AttrPath("externalId", case_exact=True), long_name),
                (AttrPath("emails", "value", multi_valued=True), emails[0]["value"]),
            ]
        ]

        assert [[r.id for r in page.resources] for page in found] == [[created_id]] * 3
        with pytest.raises(ConflictError):
            await create(postgres, USER, user(long_name.lower()))


class TestGet:
    async def test_unknown_id_is_not_found(self, postgres: PostgresBackend) -> None:
        with pytest.raises(NotFoundError):
            await postgres.get(TENANT, USER, "nope")

    async def test_id_of_another_type_is_not_found(
        self, postgres: PostgresBackend
    ) -> None:
        group_id = await create(postgres, GROUP, {"displayName": "g"})

        with pytest.raises(NotFoundError):
            await postgres.get(TENANT, USER, group_id)

    async def test_id_of_another_tenant_is_not_found(
        self, postgres: PostgresBackend
    ) -> None:
        user_id = await create(postgres, USER, user("ann"))

        with pytest.raises(NotFoundError):
            await postgres.get("other", USER, user_id)


class TestNul:
    """PostgreSQL text cannot hold NUL; such input finds nothing, never fails."""

    async def test_an_id_with_nul_is_not_found(self, postgres: PostgresBackend) -> None:
        with pytest.raises(NotFoundError):
            await postgres.get(TENANT, USER, "a\x00b")
        with pytest.raises(NotFoundError):
            async with postgres.transaction(TENANT) as tx:
                await tx.delete(USER, "a\x00b")

    async def test_a_member_id_with_nul_is_not_found(
        self, postgres: PostgresBackend
    ) -> None:
        group = await create(postgres, GROUP, {"displayName": "g"})

        with pytest.raises(MemberNotFoundError) as caught:
            async with postgres.transaction(TENANT) as tx:
                await tx.add_members(group, ["a\x00b"])

        assert caught.value.member_ids == ["a\x00b"]


class TestReplace:
    async def test_replace_bumps_version_and_last_modified_and_keeps_created(
        self, postgres: PostgresBackend
    ) -> None:
        user_id = await create(postgres, USER, user("ann"))
        before = await postgres.get(TENANT, USER, user_id)

        async with postgres.transaction(TENANT) as tx:
            after = await tx.replace(
                USER, user_id, user("ann", title="Boss"), expected_version=1
            )

        assert after.version == 2
        assert after.created == before.created
        assert after.last_modified > before.last_modified
        assert after.document == user("ann", title="Boss")
        assert await postgres.get(TENANT, USER, user_id) == after

    async def test_replace_with_another_version_is_a_mismatch(
        self, postgres: PostgresBackend
    ) -> None:
        user_id = await create(postgres, USER, user("ann"))

        with pytest.raises(VersionMismatchError) as caught:
            async with postgres.transaction(TENANT) as tx:
                await tx.replace(USER, user_id, user("ann"), expected_version=7)

        assert (caught.value.expected, caught.value.actual) == (7, 1)

    async def test_replace_of_unknown_id_is_not_found(
        self, postgres: PostgresBackend
    ) -> None:
        with pytest.raises(NotFoundError):
            async with postgres.transaction(TENANT) as tx:
                await tx.replace(USER, "nope", user("ann"))

    async def test_replace_with_a_taken_username_is_a_conflict(
        self, postgres: PostgresBackend
    ) -> None:
        await create(postgres, USER, user("ann"))
        bo = await create(postgres, USER, user("bo"))

        async with postgres.transaction(TENANT) as tx:
            with pytest.raises(ConflictError) as caught:
                await tx.replace(USER, bo, user("ANN"))
            kept = await tx.replace(USER, bo, user("Bo"))

        assert caught.value.attribute == "userName"
        assert kept.document == user("Bo")

    async def test_replace_of_a_group_keeps_its_members(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        group = await create(postgres, GROUP, {"displayName": "g"})
        async with postgres.transaction(TENANT) as tx:
            await tx.add_members(group, [ann])

        async with postgres.transaction(TENANT) as tx:
            await tx.replace(GROUP, group, {"displayName": "renamed"})
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)

        assert stored.members == [Member(ann, USER, "ann")]


class TestDelete:
    async def test_delete_removes_the_resource_and_its_memberships(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        bo = await create(postgres, USER, user("bo"))
        group = await create(postgres, GROUP, {"displayName": "g"})
        async with postgres.transaction(TENANT) as tx:
            await tx.add_members(group, [ann, bo])

        async with postgres.transaction(TENANT) as tx:
            await tx.delete(USER, ann, expected_version=1)
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)

        assert stored.members == [Member(bo, USER, "bo")]
        with pytest.raises(NotFoundError):
            await postgres.get(TENANT, USER, ann)

    async def test_delete_of_a_group_leaves_its_members(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        group = await create(postgres, GROUP, {"displayName": "g"})
        async with postgres.transaction(TENANT) as tx:
            await tx.add_members(group, [ann])

        async with postgres.transaction(TENANT) as tx:
            await tx.delete(GROUP, group)

        assert (await postgres.get(TENANT, USER, ann, with_groups=True)).groups == []

    async def test_delete_with_another_version_is_a_mismatch(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))

        with pytest.raises(VersionMismatchError):
            async with postgres.transaction(TENANT) as tx:
                await tx.delete(USER, ann, expected_version=2)

        assert (await postgres.get(TENANT, USER, ann)).version == 1

    async def test_delete_of_unknown_id_is_not_found(
        self, postgres: PostgresBackend
    ) -> None:
        with pytest.raises(NotFoundError):
            async with postgres.transaction(TENANT) as tx:
                await tx.delete(USER, "nope")


class TestTransaction:
    async def test_an_exception_rolls_the_transaction_back(
        self, postgres: PostgresBackend
    ) -> None:
        created_ids: list[str] = []

        with pytest.raises(RuntimeError):
            async with postgres.transaction(TENANT) as tx:
                created_ids.append((await tx.create(USER, user("ann"))).id)
                raise RuntimeError("boom")

        with pytest.raises(NotFoundError):
            await postgres.get(TENANT, USER, created_ids[0])
        assert (await create(postgres, USER, user("ann"))) != created_ids[0]

    async def test_get_in_a_transaction_locks_the_row_until_commit(
        self, postgres: PostgresBackend, sql: asyncpg.Connection
    ) -> None:
        ann = await create(postgres, USER, user("ann"))

        async def read_in_second_transaction() -> int:
            async with postgres.transaction(TENANT) as tx:
                return (await tx.get(USER, ann)).version

        async with postgres.transaction(TENANT) as tx:
            await tx.get(USER, ann)
            second = asyncio.create_task(read_in_second_transaction())
            await _until_a_session_waits_for_a_lock(sql)
            await tx.replace(USER, ann, user("ann", title="x"), expected_version=1)

        assert await second == 2

    async def test_connections_run_each_statement_with_one_plan(
        self, postgres: PostgresBackend
    ) -> None:
        async with postgres._connection() as connection:
            mode = await connection.fetchval("SHOW plan_cache_mode")

        assert mode == "force_generic_plan"

    async def test_connection_errors_become_unavailable(self) -> None:
        with pytest.raises(UnavailableError), connection_errors():
            raise asyncpg.ConnectionDoesNotExistError("connection was closed")


async def _until_a_session_waits_for_a_lock(sql: asyncpg.Connection) -> None:
    for _ in range(500):
        waiting = await sql.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND application_name = 'scim-gateway'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no session waited for the row lock")


class TestMembers:
    async def test_added_members_have_type_and_display(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann", displayName="Ann Lee"))
        bo = await create(postgres, USER, user("bo"))
        inner = await create(postgres, GROUP, {"displayName": "Inner"})
        group = await create(postgres, GROUP, {"displayName": "Outer"})

        async with postgres.transaction(TENANT) as tx:
            await tx.add_members(group, [ann, bo, inner, ann])
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)

        expected = [Member(ann, USER, "Ann Lee"), Member(bo, USER, "bo")]
        expected.append(Member(inner, GROUP, "Inner"))
        assert stored.members == sorted(expected, key=lambda member: member.id)
        assert stored.version == 2

    async def test_adding_a_member_twice_keeps_one(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        group = await create(postgres, GROUP, {"displayName": "g"})

        for _ in range(2):
            async with postgres.transaction(TENANT) as tx:
                await tx.add_members(group, [ann])
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)

        assert stored.members == [Member(ann, USER, "ann")]

    async def test_unknown_and_foreign_members_are_not_found_and_nothing_changes(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        group = await create(postgres, GROUP, {"displayName": "g"})
        async with postgres.transaction("other") as tx:
            foreign = (await tx.create(USER, user("x"))).id

        async with postgres.transaction(TENANT) as tx:
            with pytest.raises(MemberNotFoundError) as caught:
                await tx.add_members(group, [ann, "nope", foreign])
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)

        assert caught.value.member_ids == ["nope", foreign]
        assert (stored.members, stored.version) == ([], 1)

    async def test_members_of_an_unknown_group_are_not_found(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))

        for change in ("add_members", "remove_members", "replace_members"):
            with pytest.raises(NotFoundError):
                async with postgres.transaction(TENANT) as tx:
                    await getattr(tx, change)("nope", [ann])

    async def test_remove_ignores_ids_that_are_not_members(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        bo = await create(postgres, USER, user("bo"))
        group = await create(postgres, GROUP, {"displayName": "g"})
        async with postgres.transaction(TENANT) as tx:
            await tx.add_members(group, [ann, bo])

        async with postgres.transaction(TENANT) as tx:
            await tx.remove_members(group, [ann, "nope"])
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)

        assert stored.members == [Member(bo, USER, "bo")]
        assert stored.version == 3

    async def test_replace_makes_the_list_the_whole_membership(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        bo = await create(postgres, USER, user("bo"))
        cy = await create(postgres, USER, user("cy"))
        group = await create(postgres, GROUP, {"displayName": "g"})
        async with postgres.transaction(TENANT) as tx:
            await tx.add_members(group, [ann, bo])

        async with postgres.transaction(TENANT) as tx:
            await tx.replace_members(group, [bo, cy])
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)

        assert {member.id for member in stored.members or []} == {bo, cy}

    async def test_replace_with_an_unknown_member_changes_nothing(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        group = await create(postgres, GROUP, {"displayName": "g"})
        async with postgres.transaction(TENANT) as tx:
            await tx.add_members(group, [ann])

        async with postgres.transaction(TENANT) as tx:
            with pytest.raises(MemberNotFoundError):
                await tx.replace_members(group, ["nope"])
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)

        assert stored.members == [Member(ann, USER, "ann")]

    async def test_user_read_with_groups_lists_its_direct_groups(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        admins = await create(postgres, GROUP, {"displayName": "Admins"})
        outer = await create(postgres, GROUP, {"displayName": "Outer"})
        async with postgres.transaction(TENANT) as tx:
            await tx.add_members(admins, [ann])
            await tx.add_members(outer, [admins])
            locked = await tx.get(USER, ann, with_groups=True)

        assert locked.groups == [GroupRef(admins, "Admins")]
        assert (await postgres.get(TENANT, USER, ann)).groups is None

    async def test_a_page_reads_members_and_groups(
        self, postgres: PostgresBackend
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        bo = await create(postgres, USER, user("bo"))
        group = await create(postgres, GROUP, {"displayName": "g"})
        empty = await create(postgres, GROUP, {"displayName": "empty"})
        async with postgres.transaction(TENANT) as tx:
            await tx.add_members(group, [ann])

        users = await postgres.query(TENANT, USER, Query(with_groups=True))
        groups = await postgres.query(TENANT, GROUP, Query(with_members=True))

        assert {r.id: r.groups for r in users.resources} == {
            ann: [GroupRef(group, "g")],
            bo: [],
        }
        assert {r.id: r.members for r in groups.resources} == {
            group: [Member(ann, USER, "ann")],
            empty: [],
        }


class TestConcurrency:
    async def test_of_fifty_creates_of_one_username_exactly_one_succeeds(
        self, postgres: PostgresBackend
    ) -> None:
        names = [
            "".join(c.upper() if (i >> k) & 1 else c for k, c in enumerate("casey"))
            for i in range(50)
        ]

        outcomes = await asyncio.gather(
            *(create(postgres, USER, user(name)) for name in names),
            return_exceptions=True,
        )

        created = [o for o in outcomes if isinstance(o, str)]
        conflicts = [o for o in outcomes if isinstance(o, ConflictError)]
        assert (len(created), len(conflicts)) == (1, 49)

    async def test_concurrent_member_additions_to_one_group_all_land(
        self, postgres: PostgresBackend
    ) -> None:
        group = await create(postgres, GROUP, {"displayName": "g"})
        users = [await create(postgres, USER, user(f"u{i}")) for i in range(20)]

        async def add(member: str) -> None:
            async with postgres.transaction(TENANT) as tx:
                await tx.add_members(group, [member])

        await asyncio.gather(*(add(member) for member in users))
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)

        assert {member.id for member in stored.members or []} == set(users)
        assert stored.version == 21


async def _until_a_member_change_waits(sql: asyncpg.Connection) -> None:
    """Until `change_members`'s statement waits for the group's row lock."""
    for _ in range(500):
        waiting = await sql.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database() AND query LIKE '%seen AS%'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no member change waited for the row lock")


async def _change_behind_the_lock(
    postgres: PostgresBackend, sql: asyncpg.Connection, group: str, **change: Any
) -> asyncio.Task[StoredResource]:
    """`change_members` of `group` started, once it waits for the group's lock."""
    task = asyncio.create_task(postgres.change_members(TENANT, group, **change))
    await _until_a_member_change_waits(sql)
    return task


class TestChangeMembers:
    """The one-statement member change against writers holding the group's lock."""

    async def test_a_remove_behind_an_add_of_that_member_removes_it(
        self, postgres: PostgresBackend, sql: asyncpg.Connection
    ) -> None:
        """The statement's snapshot predates the add; the change is made again."""
        group = await create(postgres, GROUP, {"displayName": "g"})
        ann = await create(postgres, USER, user("ann"))

        async with postgres.transaction(TENANT) as tx:
            await tx.get(GROUP, group)
            await tx.add_members(group, [ann])
            removal = await _change_behind_the_lock(postgres, sql, group, remove=[ann])
        removed = await removal

        stored = await postgres.get(TENANT, GROUP, group, with_members=True)
        assert stored.members == []
        assert removed.version == stored.version == 3

    async def test_an_add_behind_another_add_lands_in_one_statement(
        self, postgres: PostgresBackend, sql: asyncpg.Connection
    ) -> None:
        group = await create(postgres, GROUP, {"displayName": "g"})
        ann = await create(postgres, USER, user("ann"))
        bo = await create(postgres, USER, user("bo"))

        async with postgres.transaction(TENANT) as tx:
            await tx.get(GROUP, group)
            await tx.add_members(group, [ann])
            adding = await _change_behind_the_lock(postgres, sql, group, add=[bo, ann])
        added = await adding

        stored = await postgres.get(TENANT, GROUP, group, with_members=True)
        assert {member.id for member in stored.members or []} == {ann, bo}
        assert added.version == stored.version == 3

    async def test_the_expected_version_is_the_one_after_the_wait(
        self, postgres: PostgresBackend, sql: asyncpg.Connection
    ) -> None:
        group = await create(postgres, GROUP, {"displayName": "g"})
        ann = await create(postgres, USER, user("ann"))
        bo = await create(postgres, USER, user("bo"))

        async with postgres.transaction(TENANT) as tx:
            await tx.get(GROUP, group)
            await tx.add_members(group, [ann])
            stale = await _change_behind_the_lock(
                postgres, sql, group, add=[bo], expected_version=1
            )
        with pytest.raises(VersionMismatchError) as caught:
            await stale

        async with postgres.transaction(TENANT) as tx:
            await tx.get(GROUP, group)
            await tx.remove_members(group, [ann])
            current = await _change_behind_the_lock(
                postgres, sql, group, add=[bo], expected_version=3
            )
        changed = await current

        assert (caught.value.expected, caught.value.actual) == (1, 2)
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)
        assert [member.id for member in stored.members or []] == [bo]
        assert changed.version == stored.version == 4

    async def test_a_member_deleted_while_waiting_is_not_found(
        self, postgres: PostgresBackend, sql: asyncpg.Connection
    ) -> None:
        group = await create(postgres, GROUP, {"displayName": "g"})
        ann = await create(postgres, USER, user("ann"))

        async with postgres.transaction(TENANT) as tx:
            await tx.get(GROUP, group)
            await tx.delete(USER, ann)
            adding = await _change_behind_the_lock(postgres, sql, group, add=[ann])
        with pytest.raises(MemberNotFoundError) as caught:
            await adding

        assert caught.value.member_ids == [ann]
        stored = await postgres.get(TENANT, GROUP, group, with_members=True)
        assert stored.members == []

    async def test_changes_of_one_group_leave_no_queue_behind(
        self, postgres: PostgresBackend
    ) -> None:
        group = await create(postgres, GROUP, {"displayName": "g"})
        users = [await create(postgres, USER, user(f"u{i}")) for i in range(10)]

        outcomes = await asyncio.gather(
            *(postgres.change_members(TENANT, group, add=[u]) for u in users),
            postgres.change_members(TENANT, group, add=["ghost"]),
            postgres.change_members(TENANT, "no-such-group", add=users[:1]),
            return_exceptions=True,
        )

        assert [type(o).__name__ for o in outcomes[-2:]] == [
            "MemberNotFoundError",
            "NotFoundError",
        ]
        assert len(postgres._group_queues) == 0


class TestEmailKeys:
    """`scim_value_keys`, the e-mail index's expression, as filters expect it."""

    @pytest.mark.parametrize(
        ("emails", "values"),
        [
            (None, []),
            ([], []),
            ({"value": "a@b"}, []),
            ("a@b", []),
            (
                [{"value": "Ann@Example.COM"}, {"value": "ΟΔΟΣ@x"}, {"value": "ß@x"}],
                ["Ann@Example.COM", "ΟΔΟΣ@x", "ß@x"],
            ),
            ([1, "x", {"value": 5}, {"value": None}, {"type": "work"}], []),
            ([{"value": "İ@x", "type": "home"}, {"value": "bo@x"}], ["İ@x", "bo@x"]),
        ],
    )
    async def test_keys_are_the_md5_of_each_folded_string_value(
        self,
        postgres: PostgresBackend,
        sql: asyncpg.Connection,
        emails: object,
        values: list[str],
    ) -> None:
        keys = await sql.fetchval(
            "SELECT scim_value_keys($1::jsonb)",
            None if emails is None else json.dumps(emails),
        )

        assert keys == [hashlib.md5(v.lower().encode()).hexdigest() for v in values]


class TestClaimPlan:
    """The claim's plan is the same however the outbox was last analyzed."""

    @pytest.mark.parametrize(
        ("analyzed", "deleted"), [(0, 0), (64, 0), (3000, 0), (0, 3000)]
    )
    async def test_the_claim_walks_the_pending_index_and_looks_up_by_key(
        self,
        postgres: PostgresBackend,
        sql: asyncpg.Connection,
        analyzed: int,
        deleted: int,
    ) -> None:
        """`deleted`: delivered messages whose rows the last ANALYZE saw dead."""
        await _enqueue(sql, "old", deleted)
        await sql.execute("DELETE FROM outbox")
        await _enqueue(sql, "seen", analyzed)
        await sql.execute("ANALYZE outbox")
        await _enqueue(sql, "new", 64)

        plan = await _claim_plan(sql)

        assert "Index Scan using outbox_pending_idx on outbox c" in plan, plan
        assert "outbox_pending_user_idx on outbox p" in plan, plan
        assert "Index Scan using outbox_pkey on outbox o" in plan, plan
        for avoided in ("Bitmap", "Seq Scan", "Hash", "Merge", "Sort"):
            assert avoided not in plan, plan


async def _enqueue(sql: asyncpg.Connection, prefix: str, count: int) -> None:
    await sql.execute(
        "INSERT INTO outbox (id, tenant, user_id, event, payload)"
        " SELECT $1 || n, $2, 'u' || n % 500, 'invited', '{}'"
        " FROM generate_series(1, $3) AS n",
        prefix,
        TENANT,
        count,
    )


async def _claim_plan(sql: asyncpg.Connection) -> str:
    """EXPLAIN of the claim's statement under the settings of its function."""
    function = invitations.CLAIM_MIGRATION
    body = function.split("RETURN QUERY", 1)[1].split(";\nEND", 1)[0]
    settings = re.findall(r"^ *SET (\w+) = (\w+);?$", function, re.M)
    async with sql.transaction():
        for name, value in settings:
            await sql.execute(f"SET LOCAL {name} = {value}")
        await sql.execute(f"PREPARE claim(integer, float8, text) AS {body}")
        try:
            rows = await sql.fetch("EXPLAIN EXECUTE claim(64, 60, 'c')")
        finally:
            await sql.execute("DEALLOCATE claim")
    return "\n".join(row[0] for row in rows)


class TestMigrations:
    async def test_backends_opening_at_once_apply_each_migration_once(
        self, schema: str, sql: asyncpg.Connection
    ) -> None:
        backends = [PostgresBackend(POSTGRES_URL, schema=schema) for _ in range(5)]

        try:
            await asyncio.gather(*(backend.open() for backend in backends))
        finally:
            await asyncio.gather(*(backend.close() for backend in backends))

        rows = await sql.fetch("SELECT version FROM schema_migrations ORDER BY 1")
        assert [row["version"] for row in rows] == [m.version for m in MIGRATIONS]

    async def test_reopening_applies_nothing_and_keeps_data(
        self, postgres: PostgresBackend, schema: str
    ) -> None:
        ann = await create(postgres, USER, user("ann"))
        again = PostgresBackend(POSTGRES_URL, schema=schema)

        await again.open()
        try:
            stored = await again.get(TENANT, USER, ann)
        finally:
            await again.close()

        assert stored.document == user("ann")

    async def test_a_schema_named_in_the_url_holds_the_tables(
        self, schema: str, sql: asyncpg.Connection
    ) -> None:
        backend = PostgresBackend(f"{POSTGRES_URL}?schema={schema}")

        await backend.open()
        try:
            await create(backend, USER, user("ann"))
        finally:
            await backend.close()

        assert await sql.fetchval("SELECT count(*) FROM resources") == 1

    async def test_a_missing_schema_is_created(self) -> None:
        async with postgres_schema() as holder:
            backend = PostgresBackend(POSTGRES_URL, schema=f"{holder}_new")
            try:
                await backend.open()
                await backend.ping()
            finally:
                await backend.close()
                connection = await asyncpg.connect(POSTGRES_URL)
                await connection.execute(f'DROP SCHEMA "{holder}_new" CASCADE')
                await connection.close()


class TestUnreachable:
    async def test_open_against_a_closed_port_is_unavailable(self) -> None:
        backend = PostgresBackend("postgresql://postgres@127.0.0.1:1/test")

        with pytest.raises(UnavailableError):
            await backend.open()
        with pytest.raises(UnavailableError):
            await backend.ping()
        await backend.close()

    async def test_an_exhausted_pool_is_unavailable(self, schema: str) -> None:
        backend = PostgresBackend(
            POSTGRES_URL, schema=schema, max_pool_size=1, acquire_timeout=0.05
        )
        await backend.open()

        try:
            async with backend.transaction(TENANT):
                with pytest.raises(UnavailableError):
                    await backend.ping()
        finally:
            await backend.close()

    async def test_a_closed_backend_is_unavailable(
        self, postgres: PostgresBackend
    ) -> None:
        await postgres.close()

        with pytest.raises(UnavailableError):
            await postgres.get(TENANT, USER, "x")


def test_the_connection_example_in_the_docs_builds_a_backend() -> None:
    text = (Path(__file__).parents[3] / "docs" / "postgres.md").read_text()
    example = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert example is not None
    namespace: dict[str, Any] = {}

    exec(example.group(1), namespace)

    assert repr(namespace["backend"]) == "PostgresBackend(schema='scim')"
