"""What a filter path points at in a row, and how each kind compares in SQL.

A path reaches a real column (`userName` as its folded column, `meta.created`
as a timestamptz), a JSON value inside the document, or nothing that is
stored. Each `Operand` spells `eq`, `co`, `sw`, `ew`, the orderings and `pr`
for its kind, with the Python evaluator's rules: case folding on both sides,
code point order ("C" collation), values of another type compare false.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from scim_gateway.filters.ast import AttrType, CompareOp, Value

__all__ = [
    "Absent",
    "ComplexElement",
    "JsonValue",
    "Operand",
    "Params",
    "TextColumn",
    "TimeColumn",
    "quote",
]

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
    """A text column; `folded` ones hold `str.lower()` and get lowered values.

    `hashed` columns are indexed by their md5 (migration 1), so an equality
    names the md5 too, for the planner to find the index.
    """

    expr: str
    folded: bool = False
    hashed: bool = False

    def compare(self, op: CompareOp, value: Value, params: Params) -> str:
        if not isinstance(value, str):
            return "false"
        bound = params.bind(value.lower() if self.folded else value, "text")
        if self.hashed and op is CompareOp.EQ:
            return f"(md5({self.expr}) = md5({bound}) AND {self.expr} = {bound})"
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
