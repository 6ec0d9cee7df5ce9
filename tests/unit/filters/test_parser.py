"""The filter, PATCH path and attribute path parsers."""

from __future__ import annotations

import functools
import random
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from scim_gateway.filters.ast import (
    And,
    AttrPath,
    AttrType,
    Compare,
    CompareOp,
    Expr,
    Not,
    Or,
    PatchPath,
    Present,
    ValuePath,
)
from scim_gateway.filters.errors import (
    FilterError,
    FilterSyntaxError,
    UnknownAttributeError,
)
from scim_gateway.filters.parser import (
    Resolver,
    parse_attr_path,
    parse_filter,
    parse_path,
)
from scim_gateway.schemas import GROUP_TYPE, USER_TYPE, SchemaRegistry
from tests.filter_cases import CASES, CORE, ENTERPRISE, FilterCase
from tests.unit.filters.scenarios import QUERIES, ScenarioQuery

REGISTRY = SchemaRegistry()
USERS: Resolver = functools.partial(REGISTRY.resolve, USER_TYPE)
GROUPS: Resolver = functools.partial(REGISTRY.resolve, GROUP_TYPE)

USER_NAME = AttrPath("userName")
TITLE = AttrPath("title")
ACTIVE = AttrPath("active", type=AttrType.BOOLEAN)
EMAILS = AttrPath("emails", type=AttrType.COMPLEX, multi_valued=True)
EMAIL_TYPE = AttrPath("type")
EMAIL_VALUE = AttrPath("value")
MEMBERS = AttrPath("members", type=AttrType.COMPLEX, multi_valued=True)
MANAGER = AttrPath("manager", uri=ENTERPRISE, type=AttrType.COMPLEX)


def eq(path: AttrPath, value: str | bool) -> Compare:
    return Compare(path, CompareOp.EQ, value)


def leaves(expr: Expr, node: type[And] | type[Or]) -> list[Expr]:
    """The operands of a chain of `node`, left to right."""
    if isinstance(expr, node):
        return leaves(expr.left, node) + leaves(expr.right, node)
    return [expr]


def depth(expr: Expr) -> int:
    if isinstance(expr, And | Or):
        return 1 + max(depth(expr.left), depth(expr.right))
    if isinstance(expr, Not):
        return 1 + depth(expr.expr)
    return 1


class TestComparisons:
    def test_attribute_and_operator_in_any_letter_case_are_canonical(self) -> None:
        expr = parse_filter('USERNAME EQ "bo"', USERS)

        assert expr == eq(USER_NAME, "bo")

    @pytest.mark.parametrize("op", list(CompareOp))
    def test_every_operator_is_read_in_upper_case(self, op: CompareOp) -> None:
        expr = parse_filter(f'title {op.value.upper()} "x"', USERS)

        assert expr == Compare(TITLE, op, "x")

    def test_pr_is_present(self) -> None:
        assert parse_filter("title Pr", USERS) == Present(TITLE)

    def test_sub_attribute_carries_the_multi_valued_parent(self) -> None:
        expr = parse_filter('Emails.Value co "x"', USERS)

        assert expr == Compare(
            AttrPath("emails", sub="value", multi_valued=True), CompareOp.CO, "x"
        )

    def test_complex_multi_valued_attribute_compares_its_value(self) -> None:
        expr = parse_filter('emails co "@example.com"', USERS)

        assert expr == parse_filter('emails.value co "@example.com"', USERS)

    def test_schemas_compares_its_elements(self) -> None:
        expr = parse_filter(f'schemas eq "{CORE}"', USERS)

        assert expr == eq(AttrPath("schemas", multi_valued=True), CORE)

    def test_urn_qualified_core_attribute_loses_its_urn(self) -> None:
        expr = parse_filter(f'{CORE}:userName eq "a"', USERS)

        assert expr == eq(USER_NAME, "a")

    def test_extension_attribute_keeps_its_canonical_urn(self) -> None:
        expr = parse_filter(f'{ENTERPRISE.upper()}:DEPARTMENT eq "x"', USERS)

        assert expr == eq(AttrPath("department", uri=ENTERPRISE), "x")

    def test_extension_sub_attribute_with_urn(self) -> None:
        expr = parse_filter(f'{ENTERPRISE}:manager.value eq "42"', USERS)

        assert expr == eq(AttrPath("manager", sub="value", uri=ENTERPRISE), "42")

    def test_datetime_literal_becomes_an_aware_utc_datetime(self) -> None:
        expr = parse_filter('meta.created gt "2020-01-01T02:00:00+02:00"', USERS)

        assert isinstance(expr, Compare)
        assert expr.value == datetime(2020, 1, 1, tzinfo=UTC)
        assert expr.path.type is AttrType.DATETIME

    def test_datetime_without_offset_is_taken_as_utc(self) -> None:
        expr = parse_filter('meta.lastModified lt "2021-06-01T00:00:00"', USERS)

        assert isinstance(expr, Compare)
        assert expr.value == datetime(2021, 6, 1, tzinfo=UTC)

    def test_number_compared_with_a_string_keeps_its_spelling(self) -> None:
        expr = parse_filter("externalId eq 12.50", USERS)

        assert isinstance(expr, Compare)
        assert expr.value == "12.50"

    def test_case_exact_comes_from_the_schema(self) -> None:
        expr = parse_filter('externalId eq "A"', USERS)

        assert isinstance(expr, Compare)
        assert expr.path.case_exact

    @pytest.mark.parametrize("literal", ["true", "True", "TRUE"])
    def test_boolean_literal_in_any_letter_case(self, literal: str) -> None:
        assert parse_filter(f"active eq {literal}", USERS) == eq(ACTIVE, True)

    def test_eq_null_is_not_present(self) -> None:
        assert parse_filter("title eq null", USERS) == Not(Present(TITLE))

    def test_ne_null_is_present(self) -> None:
        assert parse_filter("title ne null", USERS) == Present(TITLE)


class TestStrings:
    def test_escaped_quote_stays_in_the_value(self) -> None:
        assert parse_filter(r'title eq "a\"b"', USERS) == eq(TITLE, 'a"b')

    def test_json_escapes_are_decoded(self) -> None:
        expr = parse_filter(r'title eq "R\u0026D \\ \/ \t"', USERS)

        assert expr == eq(TITLE, "R&D \\ / \t")

    @pytest.mark.parametrize("value", ["and", "eq", "or not", "a) or (b", "x]", "["])
    def test_keywords_and_brackets_inside_a_string_are_text(self, value: str) -> None:
        expr = parse_filter(f'title eq "{value}" and title pr', USERS)

        assert expr == And(eq(TITLE, value), Present(TITLE))

    def test_non_ascii_value(self) -> None:
        expr = parse_filter('displayName eq "Zoë Müller 東京"', USERS)

        assert expr == eq(AttrPath("displayName"), "Zoë Müller 東京")

    def test_name_starting_with_a_literal_is_a_name(self) -> None:
        expr = parse_filter('nickName eq "x" or title pr', USERS)

        assert isinstance(expr, Or)


class TestLogic:
    def test_and_binds_tighter_than_or(self) -> None:
        expr = parse_filter('title eq "a" or title eq "b" and active eq true', USERS)

        assert expr == Or(eq(TITLE, "a"), And(eq(TITLE, "b"), eq(ACTIVE, True)))

    def test_parentheses_override_precedence(self) -> None:
        expr = parse_filter('(title eq "a" or title eq "b") and active eq true', USERS)

        assert expr == And(Or(eq(TITLE, "a"), eq(TITLE, "b")), eq(ACTIVE, True))

    @pytest.mark.parametrize("text", ['not(title eq "a")', 'NOT (title eq "a")'])
    def test_not_applies_to_a_parenthesised_filter(self, text: str) -> None:
        assert parse_filter(text, USERS) == Not(eq(TITLE, "a"))

    def test_not_binds_tighter_than_and(self) -> None:
        expr = parse_filter('not (title eq "a") And title pr', USERS)

        assert expr == And(Not(eq(TITLE, "a")), Present(TITLE))

    def test_three_clauses_under_one_or_keep_their_order(self) -> None:
        expr = parse_filter('title eq "a" OR title eq "b" Or title eq "c"', USERS)

        assert leaves(expr, Or) == [eq(TITLE, "a"), eq(TITLE, "b"), eq(TITLE, "c")]

    def test_long_chain_becomes_a_shallow_tree(self) -> None:
        text = " and ".join(f'title ne "{i}"' for i in range(256))

        expr = parse_filter(text, USERS, max_length=len(text))

        assert len(leaves(expr, And)) == 256
        assert depth(expr) == 9


class TestValueFilters:
    def test_inner_paths_name_sub_attributes(self) -> None:
        expr = parse_filter('emails[type eq "work" and value co "@x"]', USERS)

        inner = And(eq(EMAIL_TYPE, "work"), Compare(EMAIL_VALUE, CompareOp.CO, "@x"))
        assert expr == ValuePath(EMAILS, inner)

    def test_inner_paths_take_the_sub_attribute_characteristics(self) -> None:
        expr = parse_filter("emails[PRIMARY eq true]", USERS)

        assert expr == ValuePath(
            EMAILS, eq(AttrPath("primary", type=AttrType.BOOLEAN), True)
        )

    def test_inner_not_and_parentheses(self) -> None:
        expr = parse_filter('emails[not(type eq "work")]', USERS)

        assert expr == ValuePath(EMAILS, Not(eq(EMAIL_TYPE, "work")))

    def test_sub_attribute_after_the_bracket_joins_the_element_filter(self) -> None:
        expr = parse_filter('emails[type eq "work"].value sw "a"', USERS)

        sub = Compare(EMAIL_VALUE, CompareOp.SW, "a")
        assert expr == ValuePath(EMAILS, And(eq(EMAIL_TYPE, "work"), sub))

    def test_group_members_value_is_case_exact(self) -> None:
        expr = parse_filter('members[value eq "Ab"]', GROUPS)

        assert expr == ValuePath(MEMBERS, eq(AttrPath("value", case_exact=True), "Ab"))

    def test_value_filters_do_not_nest(self) -> None:
        with pytest.raises(FilterSyntaxError, match="do not nest at position 12"):
            parse_filter('emails[value[type eq "x"]]', USERS)

    def test_simple_attribute_takes_no_value_filter(self) -> None:
        with pytest.raises(FilterError, match='"userName" is no multi-valued complex'):
            parse_filter('userName[value eq "x"]', USERS)

    def test_inner_path_with_urn_is_refused(self) -> None:
        with pytest.raises(FilterSyntaxError, match="take no schema URN"):
            parse_filter(f'emails[{CORE}:type eq "x"]', USERS)


class TestTypeChecks:
    @pytest.mark.parametrize("op", ["gt", "ge", "lt", "le", "co", "sw", "ew"])
    def test_boolean_takes_only_eq_and_ne(self, op: str) -> None:
        with pytest.raises(FilterError, match=f'"{op}" cannot compare the boolean'):
            parse_filter(f"active {op} true", USERS)

    @pytest.mark.parametrize(
        "text", ['active eq "true"', "active eq 1", "title eq false"]
    )
    def test_boolean_against_non_boolean_is_refused(self, text: str) -> None:
        with pytest.raises(FilterError):
            parse_filter(text, USERS)

    def test_invalid_date_is_refused(self) -> None:
        with pytest.raises(FilterError, match='"meta.created" needs an ISO 8601'):
            parse_filter('meta.created gt "2020-13-45"', USERS)

    @pytest.mark.parametrize("op", ["co", "sw", "ew"])
    def test_substring_operators_refuse_datetimes(self, op: str) -> None:
        with pytest.raises(FilterError):
            parse_filter(f'meta.created {op} "2020"', USERS)

    def test_complex_attribute_without_value_cannot_be_compared(self) -> None:
        with pytest.raises(FilterError, match='complex attribute "name" at position 0'):
            parse_filter('name eq "Ann"', USERS)

    @pytest.mark.parametrize("op", ["gt", "co"])
    def test_null_takes_only_eq_and_ne(self, op: str) -> None:
        with pytest.raises(FilterError, match="with null"):
            parse_filter(f"title {op} null", USERS)


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('userName eq "x', "unterminated string at position 12"),
            ('userName eq "x" and', "expected an attribute name but the filter ended"),
            ('userName eq "x" "y"', "expected the end of the filter but found '\"y\"'"),
            (
                'userName zz "x"',
                "expected a comparison operator or \"pr\" but found 'zz'",
            ),
            ("userName eq", "expected a value"),
            ('userName eq "\\x"', "invalid escape in string"),
            ('(userName eq "x"', 'expected ")" but the filter ended at position 16'),
            ('not userName eq "x"', 'expected "(" after "not" but found \'userName\''),
            ('userName eq "x" # y', "unexpected character '#' at position 16"),
            ("userName eq 12abc", "unexpected character '1' at position 12"),
            ('userName . x eq "y"', "unexpected character '.' at position 9"),
            ("", "empty filter at position 0"),
            ("   ", "empty filter at position 0"),
        ],
    )
    def test_syntax_error_names_the_token_and_position(
        self, text: str, message: str
    ) -> None:
        with pytest.raises(FilterSyntaxError) as caught:
            parse_filter(text, USERS)

        assert message in caught.value.detail
        assert caught.value.position is not None

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ('title eq "\\ud800"', "invalid escape in string"),
            ('title eq "a\\u0000"', "may not contain U+0000"),
            ("title eq 1e999", "number out of range '1e999'"),
            ("title eq 9223372036854775808", "number out of range '9223"),
            ("title eq -9223372036854775809", "number out of range '-922"),
            ("title eq " + "9" * 5000, "number too long at position 9"),
        ],
    )
    def test_values_no_store_can_hold_are_refused(
        self, text: str, message: str
    ) -> None:
        with pytest.raises(FilterSyntaxError, match=re.escape(message)):
            parse_filter(text, USERS, max_length=len(text))

    @pytest.mark.parametrize(
        "date", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
    )
    def test_dates_beyond_the_calendar_are_refused(self, date: str) -> None:
        with pytest.raises(FilterError, match="needs an ISO 8601 dateTime"):
            parse_filter(f'meta.created gt "{date}"', USERS)

    def test_long_offending_token_is_cut_short_in_the_message(self) -> None:
        text = 'title eq "a" "' + "b" * 200 + '"'

        with pytest.raises(FilterSyntaxError) as caught:
            parse_filter(text, USERS)

        assert caught.value.detail == (
            f"expected the end of the filter but found '\"{'b' * 36}...' at position 13"
        )

    def test_random_characters_raise_only_filter_errors(self) -> None:
        alphabet = 'abeqtiln ()[]."\\:$-_019éü東\t\u00e9'
        generator = random.Random(3442)

        for _ in range(3000):
            text = "".join(generator.choices(alphabet, k=generator.randint(1, 30)))
            try:
                parse_filter(text, USERS)
            except FilterError:
                pass

    def test_unknown_attribute_says_where(self) -> None:
        with pytest.raises(UnknownAttributeError) as caught:
            parse_filter("title pr and emails.primry eq true", USERS)

        assert caught.value.detail == 'unknown attribute "emails.primry" at position 13'
        assert caught.value.position == 13

    def test_unknown_sub_attribute_in_a_value_filter_says_where(self) -> None:
        with pytest.raises(UnknownAttributeError, match="at position 7"):
            parse_filter('emails[kind eq "work"]', USERS)

    def test_filter_longer_than_the_limit_is_refused(self) -> None:
        with pytest.raises(FilterError, match="longer than 20 characters"):
            parse_filter('title eq "' + "x" * 20 + '"', USERS, max_length=20)

    def test_ten_thousand_parentheses_fail_cleanly(self) -> None:
        text = "(" * 10_000 + "title pr" + ")" * 10_000

        with pytest.raises(FilterError, match="nests deeper than 50 levels"):
            parse_filter(text, USERS, max_length=len(text))

    def test_ten_thousand_nots_fail_cleanly(self) -> None:
        text = "not(" * 10_000 + "title pr" + ")" * 10_000

        with pytest.raises(FilterError, match="nests deeper than 50 levels"):
            parse_filter(text, USERS, max_length=len(text))

    def test_nesting_up_to_the_limit_parses(self) -> None:
        text = "(" * 5 + "title pr" + ")" * 5

        assert parse_filter(text, USERS, max_depth=5) == Present(TITLE)

    def test_random_inputs_raise_only_filter_errors(self) -> None:
        pieces = [
            '"a"',
            '"',
            "(",
            ")",
            "[",
            "]",
            "not",
            "and",
            "or",
            "eq",
            "pr",
            "gt",
            "title",
            "emails",
            ".value",
            "active",
            "true",
            "null",
            "1",
            "1.5",
            ENTERPRISE + ":",
            "meta.created",
            '"2020-01-01"',
            "\\",
        ]
        generator = random.Random(7644)

        for _ in range(3000):
            text = " ".join(generator.choices(pieces, k=generator.randint(1, 9)))
            try:
                parse_filter(text, USERS)
            except FilterError:
                pass


class TestPatchPaths:
    def test_bare_multi_valued_attribute(self) -> None:
        assert parse_path("members", GROUPS) == PatchPath(MEMBERS)

    def test_sub_attribute_is_canonical(self) -> None:
        path = parse_path("NAME.givenname", USERS)

        assert path == PatchPath(
            AttrPath("name", type=AttrType.COMPLEX), sub="givenName"
        )

    def test_value_filter_then_sub_attribute(self) -> None:
        path = parse_path('emails[type eq "work"].value', USERS)

        assert path == PatchPath(EMAILS, eq(EMAIL_TYPE, "work"), sub="value")

    def test_value_filter_alone(self) -> None:
        path = parse_path('members[value eq "2819c223"]', GROUPS)

        member = eq(AttrPath("value", case_exact=True), "2819c223")
        assert path == PatchPath(MEMBERS, value_filter=member)

    def test_extension_attribute_by_urn(self) -> None:
        assert parse_path(f"{ENTERPRISE}:manager", USERS) == PatchPath(MANAGER)

    def test_extension_sub_attribute_by_urn(self) -> None:
        path = parse_path(f"{ENTERPRISE}:manager.value", USERS)

        assert path == PatchPath(MANAGER, sub="value")

    def test_core_attribute_by_urn(self) -> None:
        assert parse_path(f"{CORE}:userName", USERS) == PatchPath(USER_NAME)

    @pytest.mark.parametrize(
        "text",
        [
            "",
            "emails[",
            'emails[type eq "work"]value',
            'emails[type eq "work"] x',
            "name.givenName.x",
            'emails.value[type eq "w"]',
        ],
    )
    def test_malformed_path_is_a_syntax_error(self, text: str) -> None:
        with pytest.raises(FilterSyntaxError):
            parse_path(text, USERS)

    def test_unknown_sub_attribute_after_a_value_filter(self) -> None:
        with pytest.raises(UnknownAttributeError, match="at position 22"):
            parse_path('emails[type eq "work"].valu', USERS)

    def test_value_filter_on_single_valued_complex_is_refused(self) -> None:
        with pytest.raises(FilterError):
            parse_path('name[givenName eq "x"]', USERS)


class TestAttrPaths:
    def test_sort_by_sub_attribute(self) -> None:
        path = parse_attr_path("name.GIVENNAME", USERS)

        assert path == AttrPath("name", sub="givenName")

    def test_extension_attribute(self) -> None:
        path = parse_attr_path(f"{ENTERPRISE}:employeeNumber", USERS)

        assert path == AttrPath("employeeNumber", uri=ENTERPRISE)

    def test_meta_last_modified(self) -> None:
        path = parse_attr_path("meta.lastModified", USERS)

        assert path.type is AttrType.DATETIME

    @pytest.mark.parametrize("text", ["userName eq", "a b", 'emails[type eq "w"]'])
    def test_anything_but_a_path_is_refused(self, text: str) -> None:
        with pytest.raises(FilterError):
            parse_attr_path(text, USERS)


@pytest.mark.parametrize("filter_case", CASES, ids=lambda c: c.filter[:60])
def test_shared_case_parses_or_fails_as_the_table_says(filter_case: FilterCase) -> None:
    if filter_case.error:
        with pytest.raises(FilterError):
            parse_filter(filter_case.filter, USERS)
    else:
        parse_filter(filter_case.filter, USERS)


def scenario_filter(query: ScenarioQuery) -> str:
    if query.path is None:
        assert query.search_filter is not None
        return query.search_filter
    return parse_qs(urlsplit(query.path).query)["filter"][0]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: f"{q.bug}-{q.step}")
def test_scenario_filter_parses_or_is_invalid_filter(query: ScenarioQuery) -> None:
    resolve = GROUPS if query.resource_type == "Group" else USERS
    text = scenario_filter(query)

    if query.total is None:
        with pytest.raises(FilterError):
            parse_filter(text, resolve)
    else:
        assert parse_filter(text, resolve) is not None
