"""Sorting and paging on every backend (RFC 7644 §3.4.2.3, §3.4.2.4)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from scim_gateway.backends.base import USER, Backend, Query, SortSpec
from scim_gateway.filters import parse_attr_path, parse_filter
from scim_gateway.schemas import USER_TYPE, SchemaRegistry
from tests.contract.helpers import TENANT, create

REGISTRY = SchemaRegistry()

PEOPLE: list[dict[str, Any]] = [
    {"userName": "bob", "title": "x", "emails": [{"value": "m@example.com"}]},
    {
        "userName": "Alice",
        "name": {"familyName": "Zed"},
        "emails": [
            {"value": "z@example.com", "primary": False},
            {"value": "a@example.com", "primary": True},
        ],
    },
    {"userName": "carol", "title": "A", "name": {"familyName": "adams"}},
    {"userName": "Dave", "title": "b", "emails": []},
    {"userName": "erin", "title": "", "emails": [{"value": "Q@example.com"}]},
]


def sort(text: str, *, descending: bool = False) -> SortSpec:
    path = parse_attr_path(text, partial(REGISTRY.resolve, USER_TYPE))
    return SortSpec(path, descending=descending)


@pytest.fixture
async def people(backend: Backend) -> Backend:
    for document in PEOPLE:
        await create(backend, USER, document)
    return backend


async def user_names(backend: Backend, query: Query) -> list[str]:
    page = await backend.query(TENANT, USER, query)
    return [resource.document["userName"] for resource in page.resources]


class TestSort:
    async def test_without_sort_resources_come_in_creation_order(
        self, people: Backend
    ) -> None:
        names = await user_names(people, Query())

        assert names == ["bob", "Alice", "carol", "Dave", "erin"]

    async def test_user_name_sorts_regardless_of_case(self, people: Backend) -> None:
        names = await user_names(people, Query(sort=sort("userName")))

        assert names == ["Alice", "bob", "carol", "Dave", "erin"]

    async def test_descending_reverses(self, people: Backend) -> None:
        names = await user_names(people, Query(sort=sort("userName", descending=True)))

        assert names == ["erin", "Dave", "carol", "bob", "Alice"]

    async def test_missing_values_sort_last_ascending(self, people: Backend) -> None:
        names = await user_names(people, Query(sort=sort("title")))

        assert names == ["erin", "carol", "Dave", "bob", "Alice"]

    async def test_missing_values_sort_first_descending(self, people: Backend) -> None:
        names = await user_names(people, Query(sort=sort("title", descending=True)))

        assert names == ["Alice", "bob", "Dave", "carol", "erin"]

    async def test_a_sub_attribute_sorts(self, people: Backend) -> None:
        names = await user_names(people, Query(sort=sort("name.familyName")))

        assert names == ["carol", "Alice", "bob", "Dave", "erin"]

    async def test_a_multi_valued_attribute_sorts_by_its_primary_value(
        self, people: Backend
    ) -> None:
        names = await user_names(people, Query(sort=sort("emails.value")))

        assert names == ["Alice", "bob", "erin", "carol", "Dave"]

    async def test_a_multi_valued_complex_attribute_sorts_by_value(
        self, people: Backend
    ) -> None:
        names = await user_names(people, Query(sort=sort("emails")))

        assert names == ["Alice", "bob", "erin", "carol", "Dave"]

    async def test_creation_time_sorts_in_creation_order(self, people: Backend) -> None:
        names = await user_names(
            people, Query(sort=sort("meta.created", descending=True))
        )

        assert names == ["erin", "Dave", "carol", "Alice", "bob"]

    async def test_sort_applies_to_filtered_results(self, people: Backend) -> None:
        expr = parse_filter("title pr", partial(REGISTRY.resolve, USER_TYPE))

        names = await user_names(people, Query(filter=expr, sort=sort("title")))

        assert names == ["carol", "Dave", "bob"]


class TestPaging:
    async def test_count_limits_the_page_but_not_the_total(
        self, people: Backend
    ) -> None:
        page = await people.query(TENANT, USER, Query(count=2))

        assert page.total == 5
        assert [r.document["userName"] for r in page.resources] == ["bob", "Alice"]

    async def test_start_index_is_one_based(self, people: Backend) -> None:
        names = await user_names(people, Query(start_index=2, count=2))

        assert names == ["Alice", "carol"]

    async def test_the_last_page_may_be_short(self, people: Backend) -> None:
        names = await user_names(people, Query(start_index=5, count=2))

        assert names == ["erin"]

    async def test_start_index_past_the_end_gives_no_resources_and_the_total(
        self, people: Backend
    ) -> None:
        page = await people.query(TENANT, USER, Query(start_index=6, count=2))

        assert (page.resources, page.total) == ([], 5)

    async def test_count_zero_gives_the_total_only(self, people: Backend) -> None:
        page = await people.query(TENANT, USER, Query(count=0))

        assert (page.resources, page.total) == ([], 5)

    async def test_a_negative_count_counts_as_zero(self, people: Backend) -> None:
        page = await people.query(TENANT, USER, Query(count=-3))

        assert (page.resources, page.total) == ([], 5)

    async def test_start_index_below_one_counts_as_one(self, people: Backend) -> None:
        names = await user_names(people, Query(start_index=0, count=1))

        assert names == ["bob"]

    async def test_pages_of_a_sorted_query_neither_repeat_nor_skip(
        self, people: Backend
    ) -> None:
        by_title = sort("title")
        pages = [
            await user_names(people, Query(sort=by_title, start_index=i, count=2))
            for i in (1, 3, 5)
        ]

        assert sum(pages, []) == ["erin", "carol", "Dave", "bob", "Alice"]

    async def test_replacing_a_resource_keeps_its_place(self, people: Backend) -> None:
        first = (await people.query(TENANT, USER, Query(count=1))).resources[0]
        async with people.transaction(TENANT) as transaction:
            await transaction.replace(USER, first.id, {"userName": "bob", "title": "y"})

        names = await user_names(people, Query())

        assert names == ["bob", "Alice", "carol", "Dave", "erin"]

    async def test_total_counts_the_filtered_matches(self, people: Backend) -> None:
        expr = parse_filter("title pr", partial(REGISTRY.resolve, USER_TYPE))

        page = await people.query(TENANT, USER, Query(filter=expr, count=1))

        assert (page.total, len(page.resources)) == (3, 1)
