"""Filters on every backend give the answer of the Python evaluator."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from scim_gateway.backends.base import GROUP, USER, Backend, Query
from scim_gateway.filters import parse_filter
from scim_gateway.filters.ast import (
    And,
    AttrPath,
    AttrType,
    Compare,
    CompareOp,
    Expr,
    Not,
    Present,
    ValuePath,
)
from scim_gateway.filters.evaluator import matches
from scim_gateway.schemas import GROUP_TYPE, USER_TYPE, SchemaRegistry
from tests.contract.helpers import OTHER_TENANT, TENANT, create, create_group
from tests.filter_cases import (
    ANN,
    BO,
    CASES,
    DEE,
    USERS,
    ZOE,
    FilterCase,
    as_returned,
    case,
)

REGISTRY = SchemaRegistry()
CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"

# Users beyond the shared table, for what it does not reach: wildcard
# characters, caseExact externalId, schemas, and mixed JSON types.
EXTRA_USERS: list[dict[str, Any]] = [
    {
        "userName": "percent",
        "externalId": "Ext-1",
        "title": "100% sure_thing",
        "nickName": "a_b",
        "schemas": [CORE_USER],
        "loginCount": 5,
    },
    {
        "userName": "plain",
        "externalId": "ext-1",
        "title": "100 percent sure",
        "nickName": "axb",
        "loginCount": "5",
    },
    {"userName": "flag", "loginCount": True, "title": "it's"},
]

EXTRA = ("percent", "plain", "flag")

EXTRA_CASES: list[FilterCase] = [
    case('title co "100%"', "percent"),
    case('title co "%"', "percent"),
    case('nickName co "_"', "percent"),
    case('nickName sw "a_"', "percent"),
    case('nickName ew "_b"', "percent"),
    case('title ew "SURE"', "plain"),
    case('title co ""', *EXTRA),
    case('title co "\'s"', "flag"),
    case('externalId eq "Ext-1"', "percent"),
    case('externalId ew "T-1"'),
    case('externalId sw "ext"', "plain"),
    case('userName eq "x\' OR 1=1 --"'),
    case('userName gt "p"', "percent", "plain"),
    case(f'schemas eq "{CORE_USER.upper()}"', "percent"),
    case("not (schemas pr)", "plain", "flag"),
]

_COUNT = AttrPath("loginCount", type=AttrType.INTEGER)

# Paths no schema defines, compared by hand: numbers and booleans never mix.
TYPED_CASES: list[tuple[str, Expr, set[str]]] = [
    ("number eq", Compare(_COUNT, CompareOp.EQ, 5), {"percent"}),
    ("number gt", Compare(_COUNT, CompareOp.GT, 4.5), {"percent"}),
    (
        "number ne",
        Compare(_COUNT, CompareOp.NE, 5),
        {"plain", "flag"},
    ),
    ("boolean eq", Compare(_COUNT, CompareOp.EQ, True), {"flag"}),
    (
        "string eq",
        Compare(AttrPath("loginCount", case_exact=True), CompareOp.EQ, "5"),
        {"plain"},
    ),
    ("present", Present(_COUNT), {"percent", "plain", "flag"}),
    ("not present", Not(Present(_COUNT)), set()),
]


_EMAILS = AttrPath("emails", type=AttrType.COMPLEX, multi_valued=True)
_EXACT_EMAIL = AttrPath("emails", "value", case_exact=True, multi_valued=True)
_EXACT_VALUE = AttrPath("value", case_exact=True)
_WORK = Compare(AttrPath("type"), CompareOp.EQ, "work")

# E-mail lookups as a schema declaring `emails.value` caseExact would parse
# them: the SQL backends' index on folded e-mails must not widen the match.
CASE_EXACT_EMAIL_CASES: list[tuple[str, Expr, set[str]]] = [
    (
        "exact value",
        Compare(_EXACT_EMAIL, CompareOp.EQ, "Ann.Lee@Example.COM"),
        {ANN},
    ),
    ("other case", Compare(_EXACT_EMAIL, CompareOp.EQ, "ann.lee@example.com"), set()),
    (
        "value filter",
        ValuePath(
            _EMAILS, And(_WORK, Compare(_EXACT_VALUE, CompareOp.EQ, "DEE@Example.ORG"))
        ),
        {DEE},
    ),
    (
        "value filter, other case",
        ValuePath(
            _EMAILS, And(_WORK, Compare(_EXACT_VALUE, CompareOp.EQ, "dee@example.org"))
        ),
        set(),
    ),
    (
        "not, other case",
        Not(Compare(_EXACT_EMAIL, CompareOp.EQ, "DEE@EXAMPLE.ORG")),
        {ANN, BO, ZOE, DEE},
    ),
    ("ne", Compare(_EXACT_EMAIL, CompareOp.NE, "bo@example.com"), {ANN, ZOE, DEE}),
]


def user_filter(text: str) -> Expr:
    return parse_filter(text, partial(REGISTRY.resolve, USER_TYPE))


def group_filter(text: str) -> Expr:
    return parse_filter(text, partial(REGISTRY.resolve, GROUP_TYPE))


async def load(backend: Backend, documents: list[dict[str, Any]]) -> Backend:
    """The backend with `documents` as users of TENANT, and copies elsewhere."""
    for document in documents:
        await create(backend, USER, document)
        await create(backend, USER, document, tenant=OTHER_TENANT)
    return backend


@pytest.fixture
async def users(backend: Backend) -> Backend:
    return await load(backend, USERS)


@pytest.fixture
async def extra_users(backend: Backend) -> Backend:
    return await load(backend, EXTRA_USERS)


async def matched(backend: Backend, expr: Expr) -> set[str]:
    page = await backend.query(TENANT, USER, Query(filter=expr))
    names = {resource.document["userName"] for resource in page.resources}
    assert page.total == len(page.resources)
    return names


@pytest.mark.parametrize("filter_case", [c for c in CASES if not c.error], ids=str)
async def test_shared_filter_case_selects_the_expected_users(
    users: Backend, filter_case: FilterCase
) -> None:
    names = await matched(users, user_filter(filter_case.filter))

    assert names == filter_case.expected


@pytest.mark.parametrize("filter_case", EXTRA_CASES, ids=str)
async def test_filter_selects_what_the_evaluator_selects(
    extra_users: Backend, filter_case: FilterCase
) -> None:
    names = await matched(extra_users, user_filter(filter_case.filter))

    assert names == filter_case.expected


@pytest.mark.parametrize(
    ("name", "expr", "expected"), TYPED_CASES, ids=[c[0] for c in TYPED_CASES]
)
async def test_comparisons_respect_json_types(
    extra_users: Backend, name: str, expr: Expr, expected: set[str]
) -> None:
    names = await matched(extra_users, expr)

    assert names == expected


@pytest.mark.parametrize(
    ("name", "expr", "expected"),
    CASE_EXACT_EMAIL_CASES,
    ids=[c[0] for c in CASE_EXACT_EMAIL_CASES],
)
async def test_case_exact_email_lookups_select_what_the_evaluator_selects(
    users: Backend, name: str, expr: Expr, expected: set[str]
) -> None:
    by_evaluator = {
        user["userName"]
        for index, user in enumerate(USERS)
        if matches(expr, as_returned(index, user))
    }

    names = await matched(users, expr)

    assert names == by_evaluator == expected


async def test_an_email_lookup_follows_replaced_and_deleted_users(
    backend: Backend,
) -> None:
    ann = await create(backend, USER, {"userName": "ann", "emails": [_email("A@x")]})
    bo = await create(backend, USER, {"userName": "bo", "emails": [_email("b@x")]})
    async with backend.transaction(TENANT) as transaction:
        await transaction.replace(
            USER, ann.id, {"userName": "ann", "emails": [_email("ann@new.x")]}
        )
        await transaction.delete(USER, bo.id)
    bo_again = await create(
        backend, USER, {"userName": "bo2", "emails": [_email("B@X")]}
    )

    found = {
        text: await matched(backend, user_filter(text))
        for text in (
            'emails.value eq "a@x"',
            'emails[type eq "work"].value eq "ANN@new.x"',
            'emails.value eq "b@x"',
        )
    }

    assert bo_again.id != bo.id
    assert found == {
        'emails.value eq "a@x"': set(),
        'emails[type eq "work"].value eq "ANN@new.x"': {"ann"},
        'emails.value eq "b@x"': {"bo2"},
    }


def _email(value: str) -> dict[str, str]:
    return {"value": value, "type": "work"}


class TestMembershipFilters:
    @pytest.fixture
    async def staff(self, backend: Backend) -> dict[str, str]:
        ann = await create(backend, USER, {"userName": "ann", "displayName": "Ann Lee"})
        bo = await create(backend, USER, {"userName": "bo"})
        staff = await create_group(backend, "Staff", members=[ann.id, bo.id])
        admins = await create_group(backend, "Admins", members=[ann.id])
        everyone = await create_group(backend, "Everyone", members=[staff.id])
        empty = await create_group(backend, "Empty")
        ids = {"ann": ann.id, "bo": bo.id, "Staff": staff.id, "Admins": admins.id}
        return ids | {"Everyone": everyone.id, "Empty": empty.id}

    async def groups_matching(self, backend: Backend, text: str) -> set[str]:
        page = await backend.query(TENANT, GROUP, Query(filter=group_filter(text)))
        return {resource.document["displayName"] for resource in page.resources}

    async def users_matching(self, backend: Backend, text: str) -> set[str]:
        return await matched(backend, user_filter(text))

    async def test_members_value(self, backend: Backend, staff: dict[str, str]) -> None:
        found = await self.groups_matching(backend, f'members.value eq "{staff["bo"]}"')

        assert found == {"Staff"}

    async def test_members_value_filter(
        self, backend: Backend, staff: dict[str, str]
    ) -> None:
        found = await self.groups_matching(
            backend, f'members[value eq "{staff["ann"]}" and type eq "user"]'
        )

        assert found == {"Staff", "Admins"}

    async def test_members_type(self, backend: Backend, staff: dict[str, str]) -> None:
        found = await self.groups_matching(backend, 'members.type eq "Group"')

        assert found == {"Everyone"}

    async def test_members_display(
        self, backend: Backend, staff: dict[str, str]
    ) -> None:
        found = await self.groups_matching(backend, 'members.display eq "BO"')

        assert found == {"Staff"}

    async def test_members_absent(
        self, backend: Backend, staff: dict[str, str]
    ) -> None:
        found = await self.groups_matching(backend, "not (members pr)")

        assert found == {"Empty"}

    async def test_members_value_ne(
        self, backend: Backend, staff: dict[str, str]
    ) -> None:
        found = await self.groups_matching(
            backend, f'members.value ne "{staff["ann"]}"'
        )

        assert found == {"Everyone", "Empty"}

    async def test_groups_value(self, backend: Backend, staff: dict[str, str]) -> None:
        found = await self.users_matching(
            backend, f'groups.value eq "{staff["Admins"]}"'
        )

        assert found == {"ann"}

    async def test_groups_display(
        self, backend: Backend, staff: dict[str, str]
    ) -> None:
        found = await self.users_matching(backend, 'groups.display eq "staff"')

        assert found == {"ann", "bo"}

    async def test_groups_type(self, backend: Backend, staff: dict[str, str]) -> None:
        found = await self.users_matching(backend, 'groups[type eq "direct"]')

        assert found == {"ann", "bo"}
