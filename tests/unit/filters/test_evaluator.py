"""The Python evaluation of filter ASTs: `matches` and `select_elements`."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from scim_gateway.filters.ast import AttrPath, AttrType, Compare, CompareOp
from scim_gateway.filters.evaluator import matches, select_elements
from scim_gateway.filters.parser import Resolver, parse_filter, parse_path
from scim_gateway.schemas import GROUP_TYPE, USER_TYPE, SchemaRegistry
from tests.filter_cases import CASES, USERS, FilterCase, as_returned
from tests.unit.filters.scenarios import QUERIES, ScenarioQuery

REGISTRY = SchemaRegistry()
USER_RESOLVER: Resolver = functools.partial(REGISTRY.resolve, USER_TYPE)
GROUP_RESOLVER: Resolver = functools.partial(REGISTRY.resolve, GROUP_TYPE)

ANN: dict[str, Any] = {
    "id": "2819c223",
    "meta": {
        "resourceType": "User",
        "created": "2021-03-04T05:06:07Z",
        "lastModified": datetime(2022, 1, 1, 12, tzinfo=UTC),
    },
    "userName": "Ann.Lee@example.com",
    "title": "Analyst",
    "active": True,
    "emails": [
        {"value": "ann@example.com", "type": "work", "primary": True},
        {"value": "ann@home.example.org", "type": "home"},
    ],
    "groups": [{"value": "g-1", "display": "Finance", "type": "direct"}],
}
BARE: dict[str, Any] = {"id": "bare", "userName": "bare@example.com"}


def user_matches(text: str, resource: dict[str, Any]) -> bool:
    return matches(parse_filter(text, USER_RESOLVER), resource)


@pytest.mark.parametrize(
    "filter_case", [c for c in CASES if not c.error], ids=lambda c: c.filter[:60]
)
def test_shared_case_selects_the_expected_users(filter_case: FilterCase) -> None:
    expr = parse_filter(filter_case.filter, USER_RESOLVER)

    selected = {
        user["userName"]
        for index, user in enumerate(USERS)
        if matches(expr, as_returned(index, user))
    }

    assert selected == filter_case.expected


def test_shared_table_has_enough_cases() -> None:
    assert len(CASES) >= 60


def scenario_filter(query: ScenarioQuery) -> str:
    if query.path is None:
        assert query.search_filter is not None
        return query.search_filter
    return parse_qs(urlsplit(query.path).query)["filter"][0]


@pytest.mark.parametrize(
    "query", [q for q in QUERIES if q.total is not None], ids=lambda q: q.step
)
def test_scenario_filter_selects_what_the_scenario_expects(
    query: ScenarioQuery,
) -> None:
    resolve = GROUP_RESOLVER if query.resource_type == "Group" else USER_RESOLVER
    expr = parse_filter(scenario_filter(query), resolve)

    selected = {name for name, doc in query.resources.items() if matches(expr, doc)}

    assert len(selected) == query.total
    assert selected >= set(query.includes)


class TestAbsentValues:
    def test_comparisons_on_an_absent_attribute_are_false(self) -> None:
        for op in ("eq", "co", "sw", "ew", "gt", "ge", "lt", "le"):
            assert not user_matches(f'nickName {op} "x"', BARE)

    def test_ne_on_an_absent_attribute_is_true(self) -> None:
        assert user_matches('nickName ne "x"', BARE)

    def test_not_of_a_comparison_on_an_absent_attribute_is_true(self) -> None:
        assert user_matches('not (nickName eq "x")', BARE)

    def test_ne_on_a_multi_valued_attribute_means_no_element_equals(self) -> None:
        assert not user_matches('emails.type ne "home"', ANN)
        assert user_matches('emails.type ne "other"', ANN)

    def test_absent_extension_is_no_value(self) -> None:
        assert not user_matches('department eq "x"', BARE)
        assert user_matches('department ne "x"', BARE)

    @pytest.mark.parametrize("empty", [None, "", [], {}])
    def test_pr_is_false_for_empty_values(self, empty: object) -> None:
        resource = {"nickName": empty, "emails": empty, "name": empty}

        assert not user_matches("nickName pr or emails pr or name pr", resource)

    def test_pr_on_a_sub_attribute_looks_at_every_element(self) -> None:
        resource = {"emails": [{"type": "work"}, {"value": "x@example.com"}]}

        assert user_matches("emails.value pr", resource)
        assert not user_matches("emails.display pr", resource)

    def test_eq_null_matches_an_absent_attribute(self) -> None:
        assert user_matches("nickName eq null", BARE)
        assert not user_matches("title eq null", ANN)


class TestStringComparisons:
    def test_case_insensitive_uses_lower_on_both_sides(self) -> None:
        assert user_matches('userName eq "ANN.LEE@EXAMPLE.COM"', ANN)

    def test_case_exact_attribute_compares_as_is(self) -> None:
        resource = {"externalId": "Abc"}

        assert user_matches('externalId eq "Abc"', resource)
        assert not user_matches('externalId eq "abc"', resource)

    def test_lower_is_not_casefold(self) -> None:
        """`str.lower()` keeps ß, so "STRASSE" does not equal "straße"."""
        resource = {"title": "Straße"}

        assert not user_matches('title eq "STRASSE"', resource)
        assert user_matches('title eq "STRAßE"', resource)

    def test_substring_operators(self) -> None:
        assert user_matches('title co "NAL"', ANN)
        assert user_matches('title sw "an"', ANN)
        assert user_matches('title ew "YST"', ANN)
        assert user_matches('title sw "analyst"', ANN)
        assert not user_matches('title ew "Ana"', ANN)

    def test_ordering_of_strings(self) -> None:
        assert user_matches('title gt "ALPHA"', ANN)
        assert user_matches('title le "analyst"', ANN)
        assert not user_matches('title lt "Analyst"', ANN)

    def test_any_element_of_a_multi_valued_attribute(self) -> None:
        assert user_matches('emails.value ew ".org"', ANN)
        assert user_matches('emails co "home"', ANN)


class TestOtherTypes:
    def test_datetime_string_in_the_resource_compares_as_an_instant(self) -> None:
        assert user_matches('meta.created gt "2021-03-04T06:00:00+02:00"', ANN)
        assert user_matches('meta.created eq "2021-03-04T05:06:07+00:00"', ANN)

    def test_datetime_object_in_the_resource(self) -> None:
        assert user_matches('meta.lastModified ge "2022-01-01T12:00:00Z"', ANN)
        assert not user_matches('meta.lastModified gt "2022-01-01T12:00:00Z"', ANN)

    def test_unparseable_stored_date_matches_nothing(self) -> None:
        resource = {"meta": {"created": "last tuesday"}}

        assert not user_matches('meta.created gt "2020-01-01T00:00:00Z"', resource)

    def test_id_and_groups(self) -> None:
        assert user_matches('id eq "2819c223"', ANN)
        assert user_matches('groups.value eq "g-1"', ANN)
        assert user_matches('groups[display sw "fin" and type eq "direct"]', ANN)

    def test_mismatched_stored_types_are_false_without_raising(self) -> None:
        resource = {"title": 5, "active": "True", "emails": ["x", 3, None]}

        assert not user_matches('title eq "5"', resource)
        assert not user_matches("active eq true", resource)
        assert not user_matches('emails[type eq "x"]', resource)
        assert not user_matches('emails.value eq "x"', resource)
        assert user_matches('title ne "5"', resource)

    def test_numbers_compare_numerically(self) -> None:
        path = AttrPath("score", type=AttrType.DECIMAL)

        assert matches(Compare(path, CompareOp.GT, 2), {"score": 10.5})
        assert not matches(Compare(path, CompareOp.GT, 2), {"score": True})
        assert not matches(Compare(path, CompareOp.GT, 2), {"score": "10"})

    def test_booleans_equal_only_booleans(self) -> None:
        assert user_matches("active eq true", ANN)
        assert not user_matches("active eq false", ANN)
        assert not user_matches("active eq true", {"active": 1})

    def test_schemas_match_case_insensitively(self) -> None:
        resource = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}

        assert user_matches(
            'schemas eq "URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER"', resource
        )


class TestLimits:
    def test_deepest_allowed_filter_evaluates(self) -> None:
        text = "not(" * 50 + 'title eq "Analyst"' + ")" * 50

        assert user_matches(text, ANN)

    def test_longest_chain_evaluates(self) -> None:
        text = " or ".join(["title pr"] * 300)
        expr = parse_filter(text, USER_RESOLVER)

        assert matches(expr, ANN)
        assert not matches(expr, BARE)


class TestSelectElements:
    def test_indices_of_matching_elements(self) -> None:
        path = parse_path('emails[type eq "home" or primary eq true]', USER_RESOLVER)
        assert path.value_filter is not None

        assert select_elements(path.value_filter, ANN["emails"]) == [0, 1]

    def test_member_value_is_case_exact(self) -> None:
        members = [{"value": "Abc"}, {"value": "abc"}, {"value": "x"}]
        path = parse_path('members[value eq "abc"]', GROUP_RESOLVER)
        assert path.value_filter is not None

        assert select_elements(path.value_filter, members) == [1]

    def test_elements_that_are_not_objects_match_nothing(self) -> None:
        path = parse_path("emails[value pr]", USER_RESOLVER)
        assert path.value_filter is not None

        assert select_elements(path.value_filter, ["x", None, {"value": "y"}]) == [2]

    def test_no_match_is_an_empty_list(self) -> None:
        path = parse_path('emails[type eq "other"]', USER_RESOLVER)
        assert path.value_filter is not None

        assert select_elements(path.value_filter, ANN["emails"]) == []
