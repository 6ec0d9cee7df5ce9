"""Reading request bodies: size, syntax, duplicates and depth."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scim_gateway.errors import InvalidSyntax, InvalidValue
from scim_gateway.http import _check_structure, _may_hide_anything, parse_json


class TestParseJson:
    def test_object_is_parsed(self) -> None:
        assert parse_json(b'{"userName": "ann"}', max_depth=8) == {"userName": "ann"}

    @pytest.mark.parametrize(
        ("raw", "named"),
        [
            (b"", "empty"),
            (b"{", "not valid JSON"),
            (b'{"a": 1, "a": 2}', '"a"'),
            (b'{"a": NaN}', "NaN"),
            (b'{"a": Infinity}', "Infinity"),
            (b'{"a": "\xff"}', "UTF-8"),
            (b'{"a": "x\\u0000y"}', "NUL"),
            (b'{"a\\u0000": 1}', "NUL"),
            (b'{"a": ["\\ud800"]}', "surrogate"),
        ],
    )
    def test_malformed_body_is_invalid_syntax(self, raw: bytes, named: str) -> None:
        with pytest.raises(InvalidSyntax) as caught:
            parse_json(raw, max_depth=8)

        assert named in caught.value.detail

    @pytest.mark.parametrize(
        ("raw", "named"),
        [
            (b'{"a": ' + b"9" * 5000 + b"}", "beyond 64 bits"),
            (b'{"a": 9223372036854775808}', "beyond 64 bits"),
            (b'{"a": [-9223372036854775809]}', "beyond 64 bits"),
            (b'{"a": 1e400}', "too large for a double"),
        ],
    )
    def test_value_no_store_can_hold_is_invalid_value(
        self, raw: bytes, named: str
    ) -> None:
        with pytest.raises(InvalidValue) as caught:
            parse_json(raw, max_depth=8)

        assert named in caught.value.detail

    def test_numbers_at_the_64_bit_bounds_are_kept(self) -> None:
        raw = b"[9223372036854775807, -9223372036854775808, 1e308]"

        assert parse_json(raw, max_depth=8) == [2**63 - 1, -(2**63), 1e308]

    def test_nesting_beyond_limit_is_invalid_syntax(self) -> None:
        raw = b'{"a": ' * 9 + b"1" + b"}" * 9

        with pytest.raises(InvalidSyntax, match="deeper than 8"):
            parse_json(raw, max_depth=8)

    def test_nesting_of_100000_levels_is_refused_without_crashing(self) -> None:
        raw = b"[" * 100_000 + b"]" * 100_000

        with pytest.raises(InvalidSyntax, match="deeper than 32"):
            parse_json(raw, max_depth=32)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text(alphabet=st.characters(codec=None, exclude_categories=())),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=500)
@given(value=json_values, ascii_only=st.booleans(), max_depth=st.integers(1, 6))
def test_a_body_skips_the_structure_walk_only_when_the_walk_finds_nothing(
    value: object, ascii_only: bool, max_depth: int
) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only)
    # A body arrives as UTF-8, which cannot carry a lone surrogate unescaped.
    assume(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace") == text)
    if _may_hide_anything(text, max_depth):
        return
    _check_structure(json.loads(text), max_depth=max_depth)
