"""Tokens of SCIM filters: scim2-filter-parser's lexer with its gaps fixed.

The token set, the case-insensitive operator keywords (`EQ`, `And`, `not`),
attribute names, sub-attributes and schema URNs come from
`scim2_filter_parser.lexer.SCIMLexer`. Three of its rules are replaced here:

* strings: the library takes `"` to the next `"`, so `"a\\"b"` breaks and
  `\\u0026` stays undecoded; here a string is a JSON string (RFC 7159 §7),
  decoded with `json`.
* numbers: the library reads one digit; here a number is a JSON number.
* `true`, `false`, `null`: the library also matches them at the start of a
  name (`nullable`); here they must stand alone.

Errors become `FilterSyntaxError` with the 0-based offset of the offending
character.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from scim2_filter_parser.lexer import SCIMLexer

from scim_gateway.filters.errors import FilterSyntaxError

__all__ = ["Token", "excerpt", "tokenize"]

# A literal ends where a name could not go on (RFC 7643 §2.1 nameChar, `$` of
# `$ref`, and `:` or `.` of a URN or path).
_STANDALONE = r"(?![A-Za-z0-9_$:.-])"


def excerpt(text: str, *, limit: int = 40) -> str:
    """`text` for an error message, in single quotes, cut short when long."""
    shown = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"'{shown}'"


@dataclass(frozen=True)
class Token:
    """One token: its kind (the library's token name), value and span."""

    kind: str
    value: str | int | float
    start: int
    end: int


class _StringRule:
    """A JSON string token; sly calls rules with a `pattern` as functions."""

    pattern = r'"(?:[^"\\]|\\.)*"'

    def __call__(self, lexer: Any, token: Any) -> Any:
        try:
            value: str = json.loads(token.value, strict=False)
            # No store can hold U+0000 or a lone surrogate (Postgres text,
            # UTF-8), so no stored value could ever match one.
            value.encode("utf-8")
        except (json.JSONDecodeError, UnicodeEncodeError) as exc:
            raise FilterSyntaxError(
                f"invalid escape in string {excerpt(token.value)}", position=token.index
            ) from exc
        if "\x00" in value:
            raise FilterSyntaxError(
                "a string may not contain U+0000", position=token.index
            )
        token.value = value
        return token


class _NumberRule:
    """A JSON number token, kept as int when it has no fraction or exponent."""

    pattern = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?" + _STANDALONE

    def __call__(self, lexer: Any, token: Any) -> Any:
        text: str = token.value
        try:
            is_integer = not any(c in text for c in ".eE")
            token.value = int(text) if is_integer else float(text)
        except ValueError:  # more digits than int() converts
            raise FilterSyntaxError("number too long", position=token.index) from None
        if not _fits(token.value):
            raise FilterSyntaxError(
                f"number out of range {excerpt(text)}", position=token.index
            )
        return token


def _fits(number: int | float) -> bool:
    """Whether a store can hold `number`: a 64-bit integer or a finite double."""
    if isinstance(number, int):
        return -(2**63) <= number < 2**63
    return math.isfinite(number)


class _Lexer(SCIMLexer):  # type: ignore[misc]  # scim2-filter-parser ships no types
    # sly keeps the base class's rule order and replaces rules by name.
    tokens = SCIMLexer.tokens
    ignore = " \t\r\n"

    COMP_VALUE = _StringRule()
    NUMBER = _NumberRule()
    TRUE = "true" + _STANDALONE
    FALSE = "false" + _STANDALONE
    NULL = "null" + _STANDALONE

    def error(self, token: Any) -> None:
        char = token.value[0]
        if char == '"':
            raise FilterSyntaxError("unterminated string", position=token.index)
        raise FilterSyntaxError(f"unexpected character {char!r}", position=token.index)


def tokenize(text: str) -> Iterator[Token]:
    """Split `text` into tokens.

    Raises:
        FilterSyntaxError: a character starts no token, or a string is
            unterminated or holds an invalid escape.
    """
    for token in _Lexer().tokenize(text):
        yield Token(token.type, token.value, token.index, token.end)
