"""Compilation of filter ASTs, sorting and paging to parameterised PostgreSQL.

The logic is the Python evaluator's two-valued one: an absent attribute makes
a comparison false, `ne` is the negation of `eq` (true when the attribute is
absent), and a value of the wrong type compares false instead of raising a cast
error (each cast is guarded by `jsonb_typeof` inside a CASE, whose evaluation
order PostgreSQL guarantees). A comparison with an absent value may be NULL,
which AND, OR and WHERE treat as false; only NOT would not, so every negation
is `NOT COALESCE(x, false)`. Leaves stay bare so that indexes apply to them.

Case-insensitive strings are folded on both sides: the folded columns hold
Python's `str.lower()` and are compared with Python-lowered parameters, and
JSON values go through `scim_fold()` (ICU `lower()`, the same full Unicode
mapping as `str.lower()`; see the migrations). Ordering comparisons and sorts
use the "C" collation, which is code point order, as in Python.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from scim_gateway.backends.base import GROUP, USER, Query
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

__all__ = ["COLUMNS", "Params", "compile_filter", "count_sql", "page_sql"]

# The columns every read selects, in the order `rows.py` decodes them.
COLUMNS = "r.id, r.resource_type, r.document, r.version, r.created, r.last_modified"

# Multi-valued attributes whose folded `value`s have a GIN expression index
# (migration 2); an equality on their value adds an index-usable prefilter.
VALUE_INDEXED = frozenset({"emails"})

_ORDERING = {
    CompareOp.GT: ">",
    CompareOp.GE: ">=",
    CompareOp.LT: "<",
    CompareOp.LE: "<=",
}
_EMPTY_JSON = "('null'::jsonb, '\"\"'::jsonb, '[]'::jsonb, '{}'::jsonb)"


@dataclass
class Params:
    """The positional parameters of one statement, bound as `$n::type`."""

    values: list[object] = field(default_factory=list)

    def bind(self, value: object, sql_type: str) -> str:
        self.values.append(value)
        return f"${len(self.values)}::{sql_type}"


def quote(text: str) -> str:
    """An SQL string literal; used for resource types, so partial indexes apply."""
    return "'" + text.replace("'", "''") + "'"


def _elements(jsonb: str) -> str:
    """The elements of a JSON array; any other non-null value is its one element."""
    return (
        f"jsonb_array_elements(CASE WHEN jsonb_typeof({jsonb}) = 'array' THEN {jsonb}"
        f" WHEN jsonb_typeof({jsonb}) <> 'null' THEN jsonb_build_array({jsonb})"
        " ELSE '[]'::jsonb END)"
    )


def _numeric(value: int | float) -> Decimal:
    # repr() keeps 0.1 as 0.1; Decimal(0.1) would carry the binary error.
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _text_compare(column: str, op: CompareOp, bound: str) -> str:
    """A comparison of two non-NULL-safe text expressions, as SQL."""
    if op is CompareOp.EQ:
        return f"{column} = {bound}"
    if op is CompareOp.CO:
        return f"strpos({column}, {bound}) > 0"
    if op is CompareOp.SW:
        return f"starts_with({column}, {bound})"
    if op is CompareOp.EW:
        return f"right({column}, length({bound})) = {bound}"
    return f'{column} COLLATE "C" {_ORDERING[op]} {bound}'


class Operand(ABC):
    """Something a path points at: a column, a JSON value, or nothing."""

    @abstractmethod
    def compare(self, op: CompareOp, value: Value, params: Params) -> str:
        """An SQL boolean, NULL meaning false; `op` is never `ne` (NOT `eq`)."""

    @abstractmethod
    def present(self) -> str:
        """An SQL boolean, NULL meaning false: a value but null, "", [] or {}."""

    @abstractmethod
    def sort_key(self) -> str:
        """An SQL expression that sorts like the Python evaluator; NULL if absent."""


class Absent(Operand):
    """An attribute that is never stored (`meta.location`, `members.$ref`)."""

    def compare(self, op: CompareOp, value: Value, params: Params) -> str:
        return "false"

    def present(self) -> str:
        return "false"

    def sort_key(self) -> str:
        return "NULL"


@dataclass(frozen=True)
class TextColumn(Operand):
    """A text column; `folded` ones hold `str.lower()` and get lowered values."""

    expr: str
    folded: bool = False

    def compare(self, op: CompareOp, value: Value, params: Params) -> str:
        if not isinstance(value, str):
            return "false"
        bound = params.bind(value.lower() if self.folded else value, "text")
        return f"({_text_compare(self.expr, op, bound)})"

    def present(self) -> str:
        return f"({self.expr} <> '')"

    def sort_key(self) -> str:
        return self.expr


@dataclass(frozen=True)
class TimeColumn(Operand):
    """A timestamptz column: `meta.created` and `meta.lastModified`."""

    expr: str

    def compare(self, op: CompareOp, value: Value, params: Params) -> str:
        return _compare_instant(self.expr, op, value, params)

    def present(self) -> str:
        return f"({self.expr} IS NOT NULL)"

    def sort_key(self) -> str:
        return self.expr


_STRING_ONLY = frozenset({CompareOp.CO, CompareOp.SW, CompareOp.EW})


def _to_instant(value: Value) -> datetime | None:
    """As the evaluator: an ISO 8601 string or datetime, UTC when naive."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _compare_instant(expr: str, op: CompareOp, value: Value, params: Params) -> str:
    """`expr`, a timestamptz that may be NULL, compared as an instant."""
    instant = _to_instant(value)
    if instant is None or op in _STRING_ONLY:
        return "false"
    sql_op = "=" if op is CompareOp.EQ else _ORDERING[op]
    return f"({expr} {sql_op} {params.bind(instant, 'timestamptz')})"


@dataclass(frozen=True)
class JsonValue(Operand):
    """A JSON value inside the document, `expr` being a jsonb expression."""

    expr: str
    type: AttrType = AttrType.STRING
    case_exact: bool = False

    def compare(self, op: CompareOp, value: Value, params: Params) -> str:
        if isinstance(value, bool):
            return self._compare_boolean(op, value)
        if isinstance(value, datetime) or self.type is AttrType.DATETIME:
            return _compare_instant(self._instant(), op, value, params)
        if isinstance(value, int | float):
            return self._compare_number(op, value, params)
        if isinstance(value, str):
            return self._compare_string(op, value, params)
        return "false"

    def _compare_boolean(self, op: CompareOp, value: bool) -> str:
        if op is not CompareOp.EQ:
            return "false"
        return f"({self.expr} = '{str(value).lower()}'::jsonb)"

    def _compare_number(self, op: CompareOp, value: int | float, params: Params) -> str:
        if op in _STRING_ONLY:
            return "false"
        sql_op = "=" if op is CompareOp.EQ else _ORDERING[op]
        bound = params.bind(_numeric(value), "numeric")
        return (
            f"CASE WHEN jsonb_typeof({self.expr}) = 'number'"
            f" THEN ({self.expr})::numeric {sql_op} {bound} ELSE false END"
        )

    def _compare_string(self, op: CompareOp, value: str, params: Params) -> str:
        text = self._text()
        bound = params.bind(value, "text")
        if not self.case_exact:
            bound = f"scim_fold({bound})"
        return (
            f"CASE WHEN jsonb_typeof({self.expr}) = 'string'"
            f" THEN {_text_compare(text, op, bound)} ELSE false END"
        )

    def _text(self) -> str:
        text = f"({self.expr} #>> '{{}}')"
        return text if self.case_exact else f"scim_fold{text}"

    def _instant(self) -> str:
        """The value as timestamptz; NULL unless an ISO 8601 string (migration 2)."""
        string = f"jsonb_typeof({self.expr}) = 'string'"
        return f"scim_instant(CASE WHEN {string} THEN {self.expr} #>> '{{}}' END)"

    def present(self) -> str:
        return f"({self.expr} NOT IN {_EMPTY_JSON})"

    def sort_key(self) -> str:
        guard = f"CASE WHEN jsonb_typeof({self.expr}) ="
        if self.type in (AttrType.INTEGER, AttrType.DECIMAL):
            return f"{guard} 'number' THEN ({self.expr})::numeric END"
        if self.type is AttrType.BOOLEAN:
            return f"{guard} 'boolean' THEN ({self.expr})::boolean END"
        if self.type is AttrType.DATETIME:
            return self._instant()
        return f"({guard} 'string' THEN {self._text()} END) COLLATE \"C\""


@dataclass(frozen=True)
class ComplexElement(Operand):
    """An element of a complex multi-valued attribute named without sub-attribute.

    Comparisons apply to its `value` (`emails eq "a@x"`), presence to the element.
    """

    alias: str
    case_exact: bool = False

    def compare(self, op: CompareOp, value: Value, params: Params) -> str:
        inner = JsonValue(f"{self.alias}->'value'", case_exact=self.case_exact)
        return inner.compare(op, value, params)

    def present(self) -> str:
        return JsonValue(self.alias).present()

    def sort_key(self) -> str:
        return JsonValue(f"{self.alias}->'value'").sort_key()


Build = Callable[[Operand], str]


class Scope(ABC):
    """Where paths are resolved: the resource row, an array element, a membership."""

    @abstractmethod
    def leaf(self, path: AttrPath, build: Build) -> str:
        """Apply `build` to what `path` points at, under EXISTS if multi-valued."""

    @abstractmethod
    def inner(self, attr: AttrPath, build: Callable[[Scope], str]) -> str:
        """`attr[filter]`: some element of `attr` satisfies `build(element scope)`."""


class _Aliases:
    """Fresh aliases for nested subqueries within one statement."""

    def __init__(self) -> None:
        self._count = 0

    def next(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"


@dataclass
class RootScope(Scope):
    """Paths of the resource row `r`: real columns first, then the JSON document."""

    resource_type: str
    aliases: _Aliases = field(default_factory=_Aliases)

    def leaf(self, path: AttrPath, build: Build) -> str:
        column = self._column(path)
        if column is not None:
            return build(column)
        membership = self._membership(path)
        if membership is not None:
            scope = MembershipScope(membership, self.aliases)
            return scope.exists(build(scope.operand(path.sub or "value")))
        return self._json_leaf(path, build)

    def inner(self, attr: AttrPath, build: Callable[[Scope], str]) -> str:
        membership = self._membership(attr)
        if membership is not None:
            scope = MembershipScope(membership, self.aliases)
            return scope.exists(build(scope))
        alias = self.aliases.next("e")
        predicate = build(ElementScope(alias))
        source = _elements(self._json(attr, with_sub=False))
        # Only objects are elements a value filter can select, even under NOT.
        return (
            f"EXISTS (SELECT 1 FROM {source} AS {alias}"
            f" WHERE jsonb_typeof({alias}) = 'object' AND {predicate})"
        )

    def sort_key(self, path: AttrPath) -> str:
        column = self._column(path)
        if column is not None:
            return column.sort_key()
        if self._membership(path) is not None:
            return "NULL"
        if not path.multi_valued:
            return self._json_value(path).sort_key()
        return self._first_element_key(path)

    def _first_element_key(self, path: AttrPath) -> str:
        # RFC 7644 §3.4.2.3 leaves multi-valued sorting to the provider: the
        # primary element's value, else the first element's.
        alias = self.aliases.next("s")
        source = _elements(self._json(path, with_sub=False))
        key = self._element_operand(path, f"{alias}.v").sort_key()
        return (
            f"(SELECT {key} FROM {source} WITH ORDINALITY AS {alias}(v, n)"
            f" ORDER BY ({alias}.v->'primary' = 'true'::jsonb) DESC NULLS LAST,"
            f" {alias}.n LIMIT 1)"
        )

    def _column(self, path: AttrPath) -> Operand | None:
        if path.uri is not None:
            return None
        if path.sub is None:
            return _TOP_COLUMNS.get((self.resource_type, path.name))
        if path.name == "meta":
            return _META_COLUMNS.get(path.sub, Absent())
        return None

    def _membership(self, path: AttrPath) -> str | None:
        if path.uri is not None:
            return None
        if self.resource_type == GROUP and path.name == "members":
            return "members"
        if self.resource_type == USER and path.name == "groups":
            return "groups"
        return None

    def _json_leaf(self, path: AttrPath, build: Build) -> str:
        if not path.multi_valued:
            return build(self._json_value(path))
        alias = self.aliases.next("e")
        source = _elements(self._json(path, with_sub=False))
        predicate = build(self._element_operand(path, alias))
        return f"EXISTS (SELECT 1 FROM {source} AS {alias} WHERE {predicate})"

    def _element_operand(self, path: AttrPath, alias: str) -> Operand:
        if path.sub is not None:
            return JsonValue(f"{alias}->{quote(path.sub)}", path.type, path.case_exact)
        if path.type is AttrType.COMPLEX:
            return ComplexElement(alias, path.case_exact)
        return JsonValue(alias, path.type, path.case_exact)

    def _json_value(self, path: AttrPath) -> JsonValue:
        return JsonValue(self._json(path, with_sub=True), path.type, path.case_exact)

    def _json(self, path: AttrPath, *, with_sub: bool) -> str:
        keys = [path.uri] if path.uri is not None else []
        keys.append(path.name)
        if with_sub and path.sub is not None:
            keys.append(path.sub)
        return "r.document" + "".join(f"->{quote(key)}" for key in keys)


# Columns kept beside the document (DESIGN.md "Storage shape"); the folded ones
# hold str.lower() of the attribute, which is how caseExact=false compares.
_TOP_COLUMNS: dict[tuple[str, str], Operand] = {
    (USER, "id"): TextColumn("r.id"),
    (GROUP, "id"): TextColumn("r.id"),
    (USER, "userName"): TextColumn("r.user_name_folded", folded=True),
    (USER, "externalId"): TextColumn("r.external_id"),
    (GROUP, "externalId"): TextColumn("r.external_id"),
    (USER, "displayName"): TextColumn("r.display_name_folded", folded=True),
    (GROUP, "displayName"): TextColumn("r.display_name_folded", folded=True),
}
_META_COLUMNS: dict[str, Operand] = {
    "created": TimeColumn("r.created"),
    "lastModified": TimeColumn("r.last_modified"),
    "resourceType": TextColumn("r.resource_type"),
}


@dataclass(frozen=True)
class ElementScope(Scope):
    """Inside `attr[filter]` on a JSON array: paths name an element's sub-attributes."""

    alias: str

    def leaf(self, path: AttrPath, build: Build) -> str:
        expr = f"{self.alias}->{quote(path.name)}"
        if path.sub is not None:
            expr += f"->{quote(path.sub)}"
        return build(JsonValue(expr, path.type, path.case_exact))

    def inner(self, attr: AttrPath, build: Callable[[Scope], str]) -> str:
        # RFC 7644 §3.4.2.2 grammar has no value path inside a value path.
        return "false"


class MembershipScope(Scope):
    """Paths under `members` (of a group) or `groups` (of a user): membership rows."""

    def __init__(self, kind: str, aliases: _Aliases) -> None:
        self.kind = kind
        self.alias = aliases.next("m")

    def exists(self, predicate: str) -> str:
        m = self.alias
        own = "group_id" if self.kind == "members" else "member_id"
        return (
            f"EXISTS (SELECT 1 FROM memberships {m} WHERE {m}.tenant = r.tenant"
            f" AND {m}.{own} = r.id AND {predicate})"
        )

    def operand(self, sub: str) -> Operand:
        m = self.alias
        other = "member_id" if self.kind == "members" else "group_id"
        if sub == "value":
            return TextColumn(f"{m}.{other}")
        if sub == "display":
            display = "COALESCE(x.display_name_folded, x.user_name_folded)"
            return TextColumn(
                f"(SELECT {display} FROM resources x"
                f" WHERE x.tenant = {m}.tenant AND x.id = {m}.{other})",
                folded=True,
            )
        if sub == "type":
            kind = f"lower({m}.member_type)" if self.kind == "members" else "'direct'"
            return TextColumn(kind, folded=True)
        return Absent()

    def leaf(self, path: AttrPath, build: Build) -> str:
        return build(self.operand(path.name))

    def inner(self, attr: AttrPath, build: Callable[[Scope], str]) -> str:
        return "false"


class _Compiler:
    def __init__(self, params: Params) -> None:
        self.params = params

    def compile(self, expr: Expr, scope: Scope) -> str:
        match expr:
            case And(left, right):
                return f"({self.compile(left, scope)} AND {self.compile(right, scope)})"
            case Or(left, right):
                return f"({self.compile(left, scope)} OR {self.compile(right, scope)})"
            case Not(inner):
                return _negate(self.compile(inner, scope))
            case Present(path):
                return scope.leaf(path, lambda operand: operand.present())
            case Compare(path, op, None):
                # The parser rewrites `eq null` to `not pr` and `ne null` to `pr`;
                # a hand-built AST means the same.
                present = scope.leaf(path, lambda operand: operand.present())
                return {CompareOp.EQ: _negate(present), CompareOp.NE: present}.get(
                    op, "false"
                )
            case Compare(path, CompareOp.NE, value):
                return _negate(self._compare(path, CompareOp.EQ, value, scope))
            case Compare(path, op, value):
                return self._compare(path, op, value, scope)
            case ValuePath(attr, inner):
                exists = scope.inner(attr, lambda element: self.compile(inner, element))
                return self._with_prefilter(attr, _indexed_value(inner), exists, scope)
        raise TypeError(f"not a filter expression: {expr!r}")

    def _compare(
        self, path: AttrPath, op: CompareOp, value: Value, scope: Scope
    ) -> str:
        sql = scope.leaf(path, lambda operand: operand.compare(op, value, self.params))
        if path.sub != "value" or op is not CompareOp.EQ or not isinstance(value, str):
            return sql
        return self._with_prefilter(path, value, sql, scope)

    def _with_prefilter(
        self, attr: AttrPath, value: str | None, sql: str, scope: Scope
    ) -> str:
        """Add an index-usable condition that `sql` implies (migration 2)."""
        if value is None or not isinstance(scope, RootScope):
            return sql
        if attr.uri is not None or attr.name not in VALUE_INDEXED:
            return sql
        bound = self.params.bind(value, "text")
        column = f"r.document->{quote(attr.name)}"
        return f"(scim_folded_values({column}) @> ARRAY[scim_fold({bound})] AND {sql})"


def _negate(predicate: str) -> str:
    return f"(NOT COALESCE({predicate}, false))"


def _indexed_value(expr: Expr) -> str | None:
    """The string that `value eq` requires among the top-level conjuncts, if any."""
    for conjunct in _conjuncts(expr):
        match conjunct:
            case Compare(
                AttrPath(name="value", sub=None), CompareOp.EQ, str() as value
            ):
                return value
    return None


def _conjuncts(expr: Expr) -> Iterator[Expr]:
    if isinstance(expr, And):
        yield from _conjuncts(expr.left)
        yield from _conjuncts(expr.right)
    else:
        yield expr


def compile_filter(expr: Expr, resource_type: str, params: Params) -> str:
    """The SQL boolean for `expr` over rows `r` of `resource_type`."""
    return _Compiler(params).compile(expr, RootScope(resource_type))


def _where(resource_type: str, query: Query, params: Params) -> str:
    where = f"r.tenant = $1 AND r.resource_type = {quote(resource_type)}"
    if query.filter is None:
        return where
    return f"{where} AND {compile_filter(query.filter, resource_type, params)}"


def _order_by(resource_type: str, query: Query) -> str:
    if query.sort is None:
        return "r.seq"
    key = RootScope(resource_type).sort_key(query.sort.path)
    # Missing values sort last ascending and first descending (RFC 7644
    # §3.4.2.3); creation order breaks ties so pages never repeat or skip.
    direction = "DESC NULLS FIRST" if query.sort.descending else "ASC NULLS LAST"
    return f"{key} {direction}, r.seq"


def page_sql(tenant: str, resource_type: str, query: Query) -> tuple[str, list[object]]:
    """One page and the total of all matches, in one statement.

    The total is an uncorrelated subquery (run once, same snapshot); when the
    page is empty the caller asks `count_sql` instead.
    """
    params = Params([tenant])
    where = _where(resource_type, query, params)
    order = _order_by(resource_type, query)
    sql = (
        f"SELECT {COLUMNS}, (SELECT count(*) FROM resources r WHERE {where}) AS total"
        f" FROM resources r WHERE {where} ORDER BY {order}"
    )
    if query.count is not None:
        sql += f" LIMIT {params.bind(max(query.count, 0), 'bigint')}"
    if query.start_index > 1:
        sql += f" OFFSET {params.bind(query.start_index - 1, 'bigint')}"
    return sql, params.values


def count_sql(
    tenant: str, resource_type: str, query: Query
) -> tuple[str, list[object]]:
    """The number of resources that match the query's filter."""
    params = Params([tenant])
    where = _where(resource_type, query, params)
    return f"SELECT count(*) FROM resources r WHERE {where}", params.values
