"""Parse SCIM filters, PATCH paths and attribute paths into the typed AST.

Tokens come from scim2-filter-parser's lexer (filters/lexer.py fixes its
strings, numbers and literals). The grammar is a recursive-descent parser of
our own rather than the library's LALR grammar, which gives `and` and `or`
the same precedence (so `a or b and c` becomes `(a or b) and c`), cannot
parse a PATCH path such as `emails[type eq "work"].value` or a bare
`members`, and reports errors as "Parsing error at: None". Here:

    filter    = or
    or        = and *("or" and)
    and       = unary *("and" unary)
    unary     = "not" "(" filter ")" / "(" filter ")" / attrExp
    attrExp   = attrPath ("pr" / compareOp value)
              / attrPath "[" filter "]" [subAttr ("pr" / compareOp value)]
    patchPath = attrPath / attrPath "[" filter "]" [subAttr]

(RFC 7644 §3.4.2.2 Figure 1 and §3.5.2 Figure 7; the sub-attribute after a
value filter in a filter is an Entra habit.) Keywords and names are matched
in any letter case. Every attribute path is resolved as soon as it is read,
and every comparison is type-checked (filters/literals.py), so errors point
at the offending token. A chain of `and` / `or` becomes a balanced tree, and
nesting deeper than `max_depth` is refused, so no input recurses deeply.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from scim_gateway.filters.ast import (
    And,
    AttrPath,
    AttrType,
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
from scim_gateway.filters.lexer import Token, excerpt, tokenize
from scim_gateway.filters.literals import Scalar, check_comparison

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_LENGTH",
    "Resolver",
    "parse_attr_path",
    "parse_filter",
    "parse_path",
]

Resolver = Callable[[AttrPath], AttrPath]
"""Gives an AttrPath as written its canonical names and characteristics.

It is called with `uri` (the URN prefix the client wrote, or None), `name`
and `sub` as written, and returns them canonical, with `uri` kept only for
extension attributes; it raises `UnknownAttributeError` for a name the
schema does not define. `functools.partial(registry.resolve, USER_TYPE)`.
"""

DEFAULT_MAX_LENGTH = 4096
DEFAULT_MAX_DEPTH = 50

_OPERATORS = {op.name: op for op in CompareOp}
_LITERALS: dict[str, Scalar] = {"true": True, "false": False, "null": None}


def parse_filter(
    text: str,
    resolve: Resolver,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Expr:
    """Parse the `filter` query parameter (RFC 7644 §3.4.2.2) into a resolved AST.

    Raises:
        FilterSyntaxError: the text breaks the grammar; `position` is where.
        UnknownAttributeError: an attribute the schema does not define.
        FilterError: too long or too deep, or an operator or value that does
            not fit its attribute.
    """
    parser = _Parser(text, resolve, what="filter", limits=(max_length, max_depth))
    expr = parser.parse_or()
    parser.expect_end()
    return expr


def parse_path(
    text: str,
    resolve: Resolver,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> PatchPath:
    """Parse a PATCH operation's `path` (RFC 7644 §3.5.2).

    `members`, `name.givenName`, `emails[type eq "work"].value`,
    `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
    A value filter needs a multi-valued complex attribute.

    Raises:
        FilterSyntaxError, UnknownAttributeError, FilterError: as `parse_filter`.
    """
    parser = _Parser(text, resolve, what="path", limits=(max_length, max_depth))
    path = parser.parse_patch_path()
    parser.expect_end()
    return path


def parse_attr_path(
    text: str, resolve: Resolver, *, max_length: int = DEFAULT_MAX_LENGTH
) -> AttrPath:
    """Parse one attribute path: a `sortBy` value or an `attributes` entry.

    Raises:
        FilterSyntaxError, UnknownAttributeError, FilterError: as `parse_filter`.
    """
    parser = _Parser(text, resolve, what="attribute path", limits=(max_length, 0))
    path = parser.resolve(parser.read_path())
    parser.expect_end()
    return path


@dataclass(frozen=True)
class _RawPath:
    """An attribute path as written, and where it starts."""

    uri: str | None
    name: str
    sub: str | None
    position: int

    @property
    def as_written(self) -> AttrPath:
        return AttrPath(name=self.name, sub=self.sub, uri=self.uri)


class _Parser:
    """One parse: the token list, a cursor, and the value-filter scope."""

    def __init__(
        self, text: str, resolve: Resolver, *, what: str, limits: tuple[int, int]
    ) -> None:
        max_length, self.max_depth = limits
        if len(text) > max_length:
            raise FilterError(f"{what} is longer than {max_length} characters")
        self.text = text
        self.what = what
        self.resolver = resolve
        self.tokens: Sequence[Token] = list(tokenize(text))
        self.index = 0
        self.depth = 0
        # Inside `attr[...]` paths name sub-attributes of this attribute.
        self.scope: AttrPath | None = None
        if not self.tokens:
            raise FilterSyntaxError(f"empty {what}", position=0)

    # Cursor.

    def peek(self, kind: str) -> Token | None:
        if self.index < len(self.tokens) and self.tokens[self.index].kind == kind:
            return self.tokens[self.index]
        return None

    def take(self, kind: str) -> Token | None:
        token = self.peek(kind)
        if token is not None:
            self.index += 1
        return token

    def expect(self, kind: str, expected: str) -> Token:
        token = self.take(kind)
        if token is None:
            raise self.unexpected(expected)
        return token

    def expect_end(self) -> None:
        if self.index < len(self.tokens):
            raise self.unexpected(f"the end of the {self.what}")

    def take_adjacent(self, kind: str, previous: Token) -> Token | None:
        """The next token if it is `kind` and touches `previous` (no space)."""
        token = self.peek(kind)
        if token is None or token.start != previous.end:
            return None
        self.index += 1
        return token

    def unexpected(self, expected: str) -> FilterSyntaxError:
        if self.index >= len(self.tokens):
            return FilterSyntaxError(
                f"expected {expected} but the {self.what} ended",
                position=len(self.text),
            )
        token = self.tokens[self.index]
        found = excerpt(self.text[token.start : token.end])
        return FilterSyntaxError(
            f"expected {expected} but found {found}", position=token.start
        )

    # Filters.

    def parse_or(self) -> Expr:
        operands = [self.parse_and()]
        while self.take("OR"):
            operands.append(self.parse_and())
        return _balanced(Or, operands)

    def parse_and(self) -> Expr:
        operands = [self.parse_unary()]
        while self.take("AND"):
            operands.append(self.parse_unary())
        return _balanced(And, operands)

    def parse_unary(self) -> Expr:
        if self.take("NOT"):
            # RFC 7644 §3.4.2.2: "not" applies to a parenthesised filter only.
            return Not(self.parse_group(self.expect("LPAREN", '"(" after "not"')))
        opening = self.take("LPAREN")
        if opening is not None:
            return self.parse_group(opening)
        return self.parse_attr_exp()

    def parse_group(self, opening: Token) -> Expr:
        self.enter(opening)
        expr = self.parse_or()
        self.expect("RPAREN", '")"')
        self.depth -= 1
        return expr

    def parse_attr_exp(self) -> Expr:
        raw = self.read_path()
        if self.peek("LBRACKET") is None:
            return self.parse_condition(self.resolve(raw), raw.position)

        attr, inner = self.parse_value_filter(raw)
        closing = self.tokens[self.index - 1]
        sub = self.take_adjacent("SUBATTR", closing)
        if sub is None:
            return ValuePath(attr, inner)
        # `emails[type eq "work"].value eq "x"`: the sub-attribute of the
        # same element, so one element must satisfy both.
        sub_path = self.resolve_sub(attr, str(sub.value), sub.start)
        return ValuePath(attr, And(inner, self.parse_condition(sub_path, sub.start)))

    def parse_condition(self, path: AttrPath, position: int) -> Expr:
        if self.take("PR"):
            return Present(path)
        token = self.tokens[self.index] if self.index < len(self.tokens) else None
        op = _OPERATORS.get(token.kind) if token is not None else None
        if op is None:
            raise self.unexpected('a comparison operator or "pr"')
        self.index += 1

        value, raw = self.read_value()
        if path.type is AttrType.COMPLEX and path.sub is None and self.scope is None:
            path = self.complex_value(path, position)
        return check_comparison(path, op, value, raw=raw, position=position)

    def read_value(self) -> tuple[Scalar, str]:
        if self.index >= len(self.tokens):
            raise self.unexpected("a value")
        token = self.tokens[self.index]
        raw = self.text[token.start : token.end]
        if token.kind in ("COMP_VALUE", "NUMBER"):
            value: Scalar = token.value
        elif token.kind in ("TRUE", "FALSE", "NULL", "ATTRNAME") and (
            raw.lower() in _LITERALS
        ):
            # JSON spells them in lower case; `True` is read as meant.
            value = _LITERALS[raw.lower()]
        else:
            raise self.unexpected("a value (a string, number, true, false or null)")
        self.index += 1
        return value, raw

    def complex_value(self, path: AttrPath, position: int) -> AttrPath:
        """`emails co "x"` compares `emails.value` (RFC 7643 §2.4 `value`)."""
        try:
            return self.resolver(AttrPath(path.name, sub="value", uri=path.uri))
        except UnknownAttributeError:
            raise FilterError(
                f'compare a sub-attribute of the complex attribute "{path.name}" '
                f"at position {position}"
            ) from None

    # Value filters and paths.

    def parse_value_filter(self, raw: _RawPath) -> tuple[AttrPath, Expr]:
        """`attr[filter]` after `attr`: the resolved attribute and its filter."""
        opening = self.expect("LBRACKET", '"["')
        if self.scope is not None:
            raise FilterSyntaxError("value filters do not nest", position=opening.start)
        if raw.sub is not None:
            raise FilterSyntaxError(
                f'"[" must follow an attribute, not the sub-attribute "{raw.sub}"',
                position=opening.start,
            )
        attr = self.resolve(raw)
        if attr.type is not AttrType.COMPLEX or not attr.multi_valued:
            raise FilterError(
                f'"{attr.name}" is no multi-valued complex attribute, so it takes '
                f"no value filter at position {opening.start}"
            )

        self.enter(opening)
        self.scope = attr
        inner = self.parse_or()
        self.scope = None
        self.expect("RBRACKET", '"]"')
        self.depth -= 1
        return attr, inner

    def parse_patch_path(self) -> PatchPath:
        raw = self.read_path()
        if self.peek("LBRACKET") is None:
            attr = self.resolve(replace(raw, sub=None))
            sub = None if raw.sub is None else self.resolve(raw).sub
            return PatchPath(attr, sub=sub)

        attr, inner = self.parse_value_filter(raw)
        closing = self.tokens[self.index - 1]
        sub_token = self.take_adjacent("SUBATTR", closing)
        if sub_token is None:
            return PatchPath(attr, value_filter=inner)
        target = self.resolve_sub(attr, str(sub_token.value), sub_token.start)
        return PatchPath(attr, value_filter=inner, sub=target.name)

    def read_path(self) -> _RawPath:
        """`[URI ":"] ATTRNAME ["." ATTRNAME]`, written without spaces."""
        uri = self.take("SCHEMA_URI")
        if uri is not None and self.scope is not None:
            raise FilterSyntaxError(
                "sub-attributes inside [...] take no schema URN", position=uri.start
            )
        name = self.expect("ATTRNAME", "an attribute name")
        if uri is not None and name.start != uri.end:
            raise FilterSyntaxError(
                "no space may follow a schema URN", position=uri.end
            )
        sub = self.take_adjacent("SUBATTR", name)
        if sub is not None and self.scope is not None:
            raise FilterSyntaxError(
                f'"{name.value}" inside [...] has no sub-attributes', position=sub.start
            )
        return _RawPath(
            uri=None if uri is None else str(uri.value),
            name=str(name.value),
            sub=None if sub is None else str(sub.value),
            position=(uri or name).start,
        )

    def resolve(self, raw: _RawPath) -> AttrPath:
        if self.scope is not None:
            return self.resolve_sub(self.scope, raw.name, raw.position)
        try:
            return self.resolver(raw.as_written)
        except UnknownAttributeError as exc:
            raise UnknownAttributeError(exc.name, position=raw.position) from None

    def resolve_sub(self, attr: AttrPath, name: str, position: int) -> AttrPath:
        """A sub-attribute of `attr`, as a path relative to one of its elements."""
        try:
            resolved = self.resolver(AttrPath(attr.name, sub=name, uri=attr.uri))
        except UnknownAttributeError as exc:
            raise UnknownAttributeError(exc.name, position=position) from None
        return AttrPath(
            name=resolved.sub or name,
            type=resolved.type,
            case_exact=resolved.case_exact,
        )

    def enter(self, opening: Token) -> None:
        self.depth += 1
        if self.depth > self.max_depth:
            raise FilterError(
                f"{self.what} nests deeper than {self.max_depth} levels "
                f"at position {opening.start}"
            )


def _balanced(node: type[And] | type[Or], operands: list[Expr]) -> Expr:
    """`a op b op c ...` as a tree of depth log2(n), not n."""
    if len(operands) == 1:
        return operands[0]
    middle = len(operands) // 2
    return node(_balanced(node, operands[:middle]), _balanced(node, operands[middle:]))
