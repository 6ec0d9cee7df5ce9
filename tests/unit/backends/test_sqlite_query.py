"""The SQLite spelling of compiled filters: parameters, paths, folding."""

from __future__ import annotations

from functools import partial

import pytest

from scim_gateway.backends.base import GROUP, USER, SortSpec
from scim_gateway.backends.sqlite_query import SqliteCompiler, json_path, literal
from scim_gateway.filters import parse_attr_path, parse_filter
from scim_gateway.schemas import GROUP_TYPE, USER_TYPE, SchemaRegistry
from tests.filter_cases import ENTERPRISE

REGISTRY = SchemaRegistry()


def compile_user_filter(text: str) -> tuple[str, list[object]]:
    compiler = SqliteCompiler(USER)
    sql = compiler.where(parse_filter(text, partial(REGISTRY.resolve, USER_TYPE)))
    return sql, list(compiler.params)


def test_values_reach_sql_only_as_parameters() -> None:
    sql, params = compile_user_filter('title eq "x\' OR 1=1 --" or nickName co "%_"')

    assert "OR 1=1" not in sql
    assert "%_" not in sql
    assert params == ["x' or 1=1 --", "%_"]


def test_user_name_eq_compares_the_folded_column_with_a_folded_value() -> None:
    sql, params = compile_user_filter('userName eq "ZOË@Example.com"')

    assert sql == "r.user_name_folded = ?"
    assert params == ["zoë@example.com"]


def test_case_exact_external_id_is_compared_as_given() -> None:
    sql, params = compile_user_filter('externalId eq "ABC"')

    assert sql == "r.external_id = ?"
    assert params == ["ABC"]


def test_an_extension_attribute_is_addressed_under_its_quoted_urn() -> None:
    sql, _ = compile_user_filter(f'{ENTERPRISE}:department eq "x"')

    assert f'\'$."{ENTERPRISE}"."department"\'' in sql


def test_a_multi_valued_attribute_is_matched_through_json_each() -> None:
    sql, params = compile_user_filter('emails[type eq "work" and value co "@x"]')

    assert sql.startswith("EXISTS (SELECT 1 FROM json_each(r.document, '$.\"emails\"')")
    assert params == ["work", "@x"]


def test_not_is_two_valued() -> None:
    sql, _ = compile_user_filter('not (title eq "x")')

    assert sql.startswith("NOT COALESCE(")


def test_members_value_is_an_exists_on_memberships() -> None:
    compiler = SqliteCompiler(GROUP)
    expr = parse_filter('members.value eq "abc"', partial(REGISTRY.resolve, GROUP_TYPE))

    sql = compiler.where(expr)

    assert sql.startswith("EXISTS (SELECT 1 FROM memberships AS m")
    assert "m1.member_id = ?" in sql
    assert compiler.params == ["abc"]


def test_sorting_puts_missing_values_last_and_breaks_ties_by_creation() -> None:
    path = parse_attr_path("title", partial(REGISTRY.resolve, USER_TYPE))

    order = SqliteCompiler(USER).order_by(SortSpec(path))

    assert order.endswith("ASC NULLS LAST, r.seq")


def test_json_path_quotes_every_key() -> None:
    assert json_path(("name", "givenName")) == '\'$."name"."givenName"\''


def test_json_path_refuses_a_key_it_cannot_quote() -> None:
    with pytest.raises(ValueError, match="cannot be addressed"):
        json_path(('bad"key',))


def test_literal_doubles_quotes() -> None:
    assert literal("it's") == "'it''s'"
