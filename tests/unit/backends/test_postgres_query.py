"""Filters, sorting and paging of the Postgres backend, and the plans they get."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import pytest

from scim_gateway.backends.base import GROUP, USER, Query, SortSpec
from scim_gateway.backends.postgres import PostgresBackend
from scim_gateway.backends.postgres_query import (
    anchored_page_sql,
    page_keys_sql,
    page_sql,
    walk_sql,
)
from scim_gateway.backends.postgres_statements import get_sql
from scim_gateway.filters.ast import (
    And,
    AttrPath,
    AttrType,
    Compare,
    CompareOp,
    Expr,
    Not,
    Or,
    Present,
    Value,
    ValuePath,
)
from scim_gateway.filters.parser import Resolver, parse_filter
from scim_gateway.schemas import GROUP_TYPE, USER_TYPE, SchemaRegistry
from tests.unit.filters.scenarios import QUERIES, ScenarioQuery

pytestmark = pytest.mark.postgres

TENANT = "acme"
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

ANN = "Ann.Lee@example.com"
BO = "bo.chen@example.com"
ZOE = "zoë.müller@example.com"
EVERYONE = {ANN, BO, ZOE}

USERS: list[dict[str, Any]] = [
    {
        "schemas": [CORE, ENTERPRISE],
        "userName": ANN,
        "externalId": "ANN-1",
        "displayName": "Ann Lee",
        "active": True,
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [
            {"value": "ann@example.com", "type": "work", "primary": True},
            {"value": "ann@home.example.org", "type": "home"},
        ],
        "title": "Analyst",
        "level": 10,
        ENTERPRISE: {"department": "Finance"},
    },
    {
        "schemas": [CORE],
        "userName": BO,
        "externalId": "bo-2",
        "active": False,
        "emails": [{"value": "bo@example.com", "type": "work"}],
        "title": "",
        "level": 3,
    },
    {
        "schemas": [CORE],
        "userName": ZOE,
        "displayName": "Zoë Müller",
        "active": True,
        "emails": [],
        "level": "high",
    },
]


def attr(
    name: str,
    sub: str | None = None,
    *,
    uri: str | None = None,
    type: AttrType = AttrType.STRING,
    exact: bool = False,
    multi: bool = False,
) -> AttrPath:
    return AttrPath(name, sub, uri, type, exact, multi)


def eq(path: AttrPath, value: Value) -> Compare:
    return Compare(path, CompareOp.EQ, value)


USER_NAME = attr("userName")
TITLE = attr("title")
ACTIVE = attr("active", type=AttrType.BOOLEAN)
LEVEL = attr("level", type=AttrType.INTEGER)
EMAILS = attr("emails", type=AttrType.COMPLEX, multi=True)
EMAIL_VALUE = attr("emails", "value", multi=True)
CREATED = attr("meta", "created", type=AttrType.DATETIME)
WORK = eq(attr("type"), "work")
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.fixture
async def users(postgres: PostgresBackend) -> PostgresBackend:
    async with postgres.transaction(TENANT) as tx:
        for document in USERS:
            await tx.create(USER, document)
    return postgres


async def user_names(backend: PostgresBackend, expr: Expr) -> set[str]:
    page = await backend.query(TENANT, USER, Query(filter=expr))
    return {resource.document["userName"] for resource in page.resources}


FILTER_CASES: list[tuple[Expr, set[str]]] = [
    # Folded columns: str.lower() on both sides, code point order.
    (eq(USER_NAME, "ann.lee@EXAMPLE.com"), {ANN}),
    (Compare(USER_NAME, CompareOp.CO, "CHEN"), {BO}),
    (Compare(USER_NAME, CompareOp.SW, "ZOË"), {ZOE}),
    (Compare(USER_NAME, CompareOp.EW, ".COM"), EVERYONE),
    (Compare(USER_NAME, CompareOp.GT, "c"), {ZOE}),
    (Compare(USER_NAME, CompareOp.LE, "BO.CHEN@example.com"), {ANN, BO}),
    (eq(attr("displayName"), "ZOË MÜLLER"), {ZOE}),
    (Compare(attr("displayName"), CompareOp.NE, "Ann Lee"), {BO, ZOE}),
    # caseExact columns.
    (eq(attr("externalId", exact=True), "ANN-1"), {ANN}),
    (eq(attr("externalId", exact=True), "ann-1"), set()),
    (Present(attr("externalId", exact=True)), {ANN, BO}),
    (Present(attr("id", exact=True)), EVERYONE),
    (eq(attr("meta", "resourceType", exact=True), "User"), EVERYONE),
    (Compare(CREATED, CompareOp.GT, LONG_AGO), EVERYONE),
    (Compare(CREATED, CompareOp.LT, LONG_AGO), set()),
    # JSON values: folding with ICU lower(), type guards, absent values.
    (eq(attr("name", "givenName"), "ANN"), {ANN}),
    (eq(attr("department", uri=ENTERPRISE), "finance"), {ANN}),
    (Compare(TITLE, CompareOp.CO, "LYS"), {ANN}),
    (eq(TITLE, ""), {BO}),
    (Present(TITLE), {ANN}),
    (Not(Present(TITLE)), {BO, ZOE}),
    (Compare(TITLE, CompareOp.NE, "Analyst"), {BO, ZOE}),
    (Not(eq(TITLE, "Analyst")), {BO, ZOE}),
    (eq(TITLE, None), {BO, ZOE}),
    (Compare(TITLE, CompareOp.NE, None), {ANN}),
    (eq(TITLE, 5), set()),
    (eq(ACTIVE, True), {ANN, ZOE}),
    (Not(eq(ACTIVE, True)), {BO}),
    (Compare(LEVEL, CompareOp.GT, 5), {ANN}),
    (Compare(LEVEL, CompareOp.LE, 3.0), {BO}),
    (Compare(LEVEL, CompareOp.NE, 10), {BO, ZOE}),
    (eq(LEVEL, "high"), {ZOE}),
    (Present(attr("name", type=AttrType.COMPLEX)), {ANN}),
    # Multi-valued: some element matches; ne is "no element equals".
    (Compare(EMAIL_VALUE, CompareOp.SW, "ANN@"), {ANN}),
    (eq(EMAIL_VALUE, "BO@example.com"), {BO}),
    (Compare(EMAILS, CompareOp.CO, "@home."), {ANN}),
    (Compare(attr("emails", "type", multi=True), CompareOp.NE, "work"), {ZOE}),
    (eq(attr("emails", "primary", type=AttrType.BOOLEAN, multi=True), True), {ANN}),
    (Present(EMAILS), {ANN, BO}),
    (eq(attr("schemas", exact=False, multi=True), ENTERPRISE.upper()), {ANN}),
    (
        ValuePath(EMAILS, And(WORK, Compare(attr("value"), CompareOp.CO, "@EXAMPLE"))),
        {ANN, BO},
    ),
    (ValuePath(EMAILS, And(WORK, eq(attr("value"), "ANN@example.com"))), {ANN}),
    (ValuePath(EMAILS, Not(WORK)), {ANN}),
    (Not(ValuePath(EMAILS, WORK)), {ZOE}),
    # NUL cannot be stored, so nothing equals or contains it.
    (eq(USER_NAME, "ann\x00"), set()),
    (Compare(TITLE, CompareOp.NE, "x\x00"), EVERYONE),
    (ValuePath(EMAILS, And(WORK, eq(attr("value"), "ann@example.com\x00"))), set()),
    # Logic.
    (Or(eq(USER_NAME, "x"), Or(eq(USER_NAME, BO), eq(ACTIVE, True))), EVERYONE),
    (And(eq(ACTIVE, True), Or(Present(TITLE), Present(EMAILS))), {ANN}),
]


@pytest.mark.parametrize(("expr", "expected"), FILTER_CASES)
async def test_filter_selects_what_the_evaluator_selects(
    users: PostgresBackend, expr: Expr, expected: set[str]
) -> None:
    selected = await user_names(users, expr)

    assert selected == expected


USER_RESOLVER: Resolver = functools.partial(SchemaRegistry().resolve, USER_TYPE)
GROUP_RESOLVER: Resolver = functools.partial(SchemaRegistry().resolve, GROUP_TYPE)


@pytest.mark.parametrize(
    "query", [q for q in QUERIES if q.total is not None], ids=lambda q: q.step
)
async def test_scenario_filter_selects_what_the_scenario_expects(
    postgres: PostgresBackend, query: ScenarioQuery
) -> None:
    """The filters real clients sent in the bug-reproduction scenarios."""
    names: dict[str, str] = {}
    async with postgres.transaction(TENANT) as tx:
        for name, document in query.resources.items():
            names[(await tx.create(query.resource_type, document)).id] = name
    text = query.search_filter
    if query.path is not None:
        text = parse_qs(urlsplit(query.path).query)["filter"][0]
    assert text is not None
    resolve = GROUP_RESOLVER if query.resource_type == GROUP else USER_RESOLVER

    page = await postgres.query(
        TENANT, query.resource_type, Query(filter=parse_filter(text, resolve))
    )

    selected = {names[resource.id] for resource in page.resources}
    assert (len(selected), page.total) == (query.total, query.total)
    assert selected >= set(query.includes)


class TestMembershipFilters:
    @pytest.fixture
    async def ids(self, postgres: PostgresBackend) -> dict[str, str]:
        async with postgres.transaction(TENANT) as tx:
            ann = (await tx.create(USER, {"userName": "ann"})).id
            bo = (await tx.create(USER, {"userName": "bo", "displayName": "Bo"})).id
            admins = (await tx.create(GROUP, {"displayName": "Admins"})).id
            staff = (await tx.create(GROUP, {"displayName": "Staff"})).id
            await tx.add_members(admins, [ann])
            await tx.add_members(staff, [bo, admins])
        return {"ann": ann, "bo": bo, "admins": admins, "staff": staff}

    async def group_names(self, backend: PostgresBackend, expr: Expr) -> set[str]:
        page = await backend.query(TENANT, GROUP, Query(filter=expr))
        return {resource.document["displayName"] for resource in page.resources}

    async def test_members_value(
        self, postgres: PostgresBackend, ids: dict[str, str]
    ) -> None:
        expr = eq(attr("members", "value", exact=True, multi=True), ids["ann"])

        assert await self.group_names(postgres, expr) == {"Admins"}

    async def test_members_value_path_with_type_and_display(
        self, postgres: PostgresBackend, ids: dict[str, str]
    ) -> None:
        members = attr("members", type=AttrType.COMPLEX, multi=True)
        of_type = ValuePath(members, eq(attr("type"), "group"))
        by_display = ValuePath(members, eq(attr("display"), "BO"))

        assert await self.group_names(postgres, of_type) == {"Staff"}
        assert await self.group_names(postgres, by_display) == {"Staff"}

    async def test_groups_value_and_absence(
        self, postgres: PostgresBackend, ids: dict[str, str]
    ) -> None:
        groups = attr("groups", "value", multi=True)
        no_groups = Not(Present(attr("groups", type=AttrType.COMPLEX, multi=True)))
        ann_and_bo = {"ann", "bo"}

        assert await user_names(postgres, eq(groups, ids["staff"])) == {"bo"}
        assert await user_names(postgres, no_groups) == set()
        assert await user_names(postgres, Not(eq(groups, "x"))) == ann_and_bo


class TestSortAndPage:
    async def sorted_names(
        self, backend: PostgresBackend, path: AttrPath, *, descending: bool = False
    ) -> list[str]:
        query = Query(sort=SortSpec(path, descending=descending))
        page = await backend.query(TENANT, USER, query)
        return [resource.document["userName"] for resource in page.resources]

    async def test_sort_by_username_ignores_case(self, users: PostgresBackend) -> None:
        assert await self.sorted_names(users, USER_NAME) == [ANN, BO, ZOE]

    async def test_missing_values_sort_last_ascending_and_first_descending(
        self, users: PostgresBackend
    ) -> None:
        ascending = await self.sorted_names(users, TITLE)
        descending = await self.sorted_names(users, TITLE, descending=True)

        assert ascending == [BO, ANN, ZOE]
        assert descending == [ZOE, ANN, BO]

    async def test_numbers_sort_as_numbers(self, users: PostgresBackend) -> None:
        assert await self.sorted_names(users, LEVEL) == [BO, ANN, ZOE]

    async def test_multi_valued_sorts_by_primary_value(
        self, users: PostgresBackend
    ) -> None:
        names = await self.sorted_names(users, EMAIL_VALUE, descending=True)

        assert names == [ZOE, BO, ANN]

    async def test_ties_keep_creation_order(self, users: PostgresBackend) -> None:
        ascending = await self.sorted_names(users, ACTIVE)
        descending = await self.sorted_names(users, ACTIVE, descending=True)

        assert ascending == [BO, ANN, ZOE]
        assert descending == [ANN, ZOE, BO]

    async def test_a_page_counts_every_match(self, postgres: PostgresBackend) -> None:
        async with postgres.transaction(TENANT) as tx:
            for number in range(5):
                await tx.create(USER, {"userName": f"u{number}"})

        page = await postgres.query(TENANT, USER, Query(start_index=2, count=2))

        assert [r.document["userName"] for r in page.resources] == ["u1", "u2"]
        assert page.total == 5

    @pytest.mark.parametrize(
        "query",
        [Query(count=0), Query(start_index=9), Query(start_index=9, count=1)],
    )
    async def test_an_empty_page_still_counts_every_match(
        self, users: PostgresBackend, query: Query
    ) -> None:
        page = await users.query(TENANT, USER, query)

        assert (page.resources, page.total) == ([], 3)

    async def test_without_count_every_match_is_returned(
        self, users: PostgresBackend
    ) -> None:
        page = await users.query(TENANT, USER, Query(start_index=0, count=None))

        assert (len(page.resources), page.total) == (3, 3)


FILL = """
INSERT INTO resources (tenant, resource_type, id, document, user_name_folded,
                       external_id, created, last_modified, version)
SELECT $1, 'User', 'id-' || n,
       jsonb_build_object(
           'userName', 'User' || n || '@Example.com',
           'externalId', 'ext-' || n,
           'emails', jsonb_build_array(
               jsonb_build_object('value', 'User' || n || '@Example.com',
                                  'type', 'work'),
               jsonb_build_object('value', 'u' || n || '@home.example.org',
                                  'type', 'home'))),
       'user' || n || '@example.com', 'ext-' || n, now(), now(), 1
FROM generate_series(1, 20000) AS n
"""

# 100 groups of 100 members each.
GROUPED = """
WITH groups AS (
    INSERT INTO resources (tenant, resource_type, id, document, display_name,
                           display_name_folded, created, last_modified, version)
    SELECT $1, 'Group', 'group-' || n, jsonb_build_object('displayName', 'G' || n),
           'G' || n, 'g' || n, now(), now(), 1
    FROM generate_series(1, 100) AS n
    RETURNING id
)
INSERT INTO memberships (tenant, group_id, member_id, member_type)
SELECT $1, 'group-' || (n % 100 + 1), 'id-' || n, 'User'
FROM generate_series(1, 10000) AS n
"""

_INDEX_SCANS = ("Index Scan", "Index Only Scan", "Bitmap Index Scan")


@pytest.mark.slow
class TestPlans:
    """On 20,000 users, the lookups clients make per request use an index."""

    @pytest.fixture
    async def filled(self, postgres: PostgresBackend, sql: asyncpg.Connection) -> None:
        await sql.execute(FILL, TENANT)
        await sql.execute("ANALYZE resources")

    async def plan(self, sql: asyncpg.Connection, text: str, *args: object) -> str:
        """The plan the backend's connections run `text` with: the generic
        one, for any parameters (their `plan_cache_mode`)."""
        await sql.execute("SET plan_cache_mode = force_generic_plan")
        await sql.execute(f"PREPARE probe AS {text}")
        try:
            values = ", ".join([await _literal(sql, arg) for arg in args])
            rows = await sql.fetch(f"EXPLAIN EXECUTE probe({values})")
        finally:
            await sql.execute("DEALLOCATE probe")
        return "\n".join(row[0] for row in rows)

    async def filter_plan(self, sql: asyncpg.Connection, expr: Expr) -> str:
        text, args = page_sql(TENANT, USER, Query(filter=expr))
        assert len(await sql.fetch(text, *args)) == 1
        return await self.plan(sql, text, *args)

    @pytest.mark.parametrize(
        ("expr", "index"),
        [
            (eq(USER_NAME, "USER77@example.com"), "resources_user_name_key"),
            (eq(attr("externalId", exact=True), "ext-77"), "resources_external_id_idx"),
            (
                ValuePath(EMAILS, And(WORK, eq(attr("value"), "user77@EXAMPLE.com"))),
                "resources_email_values_idx",
            ),
            (eq(EMAIL_VALUE, "U77@home.example.org"), "resources_email_values_idx"),
        ],
    )
    async def test_filter_uses_an_index(
        self, filled: None, sql: asyncpg.Connection, expr: Expr, index: str
    ) -> None:
        plan = await self.filter_plan(sql, expr)

        assert "Seq Scan" not in plan
        assert any(f"{scan} on {index}" in plan for scan in _INDEX_SCANS) or any(
            f"{scan} using {index}" in plan for scan in _INDEX_SCANS
        ), plan

    async def test_get_by_id_uses_the_primary_key(
        self, filled: None, sql: asyncpg.Connection
    ) -> None:
        text = get_sql(USER, with_members=False, with_groups=True, lock=False)

        plan = await self.plan(sql, text, TENANT, "id-77")

        assert "Index Scan using resources_pkey" in plan
        assert "Seq Scan" not in plan

    async def test_default_page_walks_the_creation_order_index(
        self, filled: None, sql: asyncpg.Connection
    ) -> None:
        text, args = page_sql(TENANT, USER, Query(count=10))

        plan = await self.plan(sql, text, *args)

        assert "resources_seq_idx" in plan

    async def test_a_middle_page_skips_on_the_index_and_reads_the_kept_total(
        self, filled: None, sql: asyncpg.Connection
    ) -> None:
        query = Query(start_index=10_001, count=100, with_groups=True)
        text, args = page_sql(TENANT, USER, query)

        plan = await self.plan(sql, text, *args)

        assert "Index Only Scan using resources_seq_idx" in plan, plan
        assert "resource_counts" in plan
        assert "Seq Scan on resources" not in plan

    async def test_an_anchored_page_and_its_keys_start_on_the_seq_index(
        self, filled: None, sql: asyncpg.Connection
    ) -> None:
        await sql.execute(GROUPED, TENANT)
        await sql.execute("ANALYZE")
        query = Query(start_index=10_001, count=100, with_groups=True)
        args = (TENANT, 10_000, 100, 0)

        for text in (page_keys_sql(USER, query), anchored_page_sql(USER, query)):
            plan = await self.plan(sql, text, *args)

            assert "Index Scan using resources_seq_idx" in plan, plan
            assert "Seq Scan on resources" not in plan, plan

    async def test_the_walk_reads_the_seq_index_alone(
        self, filled: None, sql: asyncpg.Connection
    ) -> None:
        plan = await self.plan(sql, walk_sql(USER), TENANT, 64)

        assert "Index Only Scan using resources_seq_idx" in plan, plan
        assert "Seq Scan on resources" not in plan, plan

    async def test_a_page_reads_its_groups_by_the_member_index(
        self, filled: None, sql: asyncpg.Connection
    ) -> None:
        await sql.execute(GROUPED, TENANT)
        await sql.execute("ANALYZE memberships")
        query = Query(filter=eq(USER_NAME, "user77@example.com"), with_groups=True)
        text, args = page_sql(TENANT, USER, query)

        plan = await self.plan(sql, text, *args)

        assert "resources_user_name_key" in plan
        assert "Index Scan using memberships_member_idx" in plan, plan
        assert "Seq Scan" not in plan


async def _literal(sql: asyncpg.Connection, value: object) -> str:
    """`value` as an SQL literal, spelled by the server."""
    if isinstance(value, list):
        return f"ARRAY[{', '.join([await _literal(sql, v) for v in value])}]"
    literal: str = await sql.fetchval("SELECT quote_nullable($1::text)", str(value))
    return literal


async def test_ordering_comparisons_on_a_timestamp_window(
    users: PostgresBackend,
) -> None:
    now = datetime.now(UTC)
    window = And(
        Compare(CREATED, CompareOp.GE, now - timedelta(hours=1)),
        Compare(
            attr("meta", "lastModified", type=AttrType.DATETIME),
            CompareOp.LE,
            now + timedelta(hours=1),
        ),
    )

    assert await user_names(users, window) == EVERYONE
