"""Compilation of filter ASTs and sort specs to SQL, shared by the SQL dialects.

The walk over the AST, the mapping of SCIM attributes to columns, JSON members
and membership rows, and the two-valued logic live here; a dialect subclass
spells the primitives (JSON access, folding, substring tests, placeholders).

Tables: `resources` is aliased `r` and carries `tenant`, `resource_type`,
`id`, `seq`, `document`, `user_name_folded`, `external_id`, `display_name`,
`display_name_folded`, `created` and `last_modified` (instants as
`format_instant` text); `memberships` carries `tenant`, `group_id`,
`member_id` and `member_type`.

Semantics follow the Python evaluator: a comparison with an absent attribute
is false, never unknown, so `not` is true for it. SQL's NULL is therefore
coalesced to false wherever a negation could turn it into a match.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from scim_gateway.backends.base import GROUP, USER, SortSpec
from scim_gateway.backends.columns import fold, normalize_instant
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
    ValuePath,
)

__all__ = [
    "AtomTarget",
    "ColumnTarget",
    "ConstTarget",
    "FilterCompiler",
    "JsonTarget",
    "SqlValue",
    "Target",
    "value_of_complex",
]

SqlValue = str | int | float | None

_ORDERING = {
    CompareOp.EQ: "=",
    CompareOp.GT: ">",
    CompareOp.GE: ">=",
    CompareOp.LT: "<",
    CompareOp.LE: "<=",
}


@dataclass(frozen=True)
class ColumnTarget:
    """A text column; `folded_sql`, when set, holds its `str.lower` form."""

    sql: str
    folded_sql: str | None = None


@dataclass(frozen=True)
class JsonTarget:
    """The JSON member at `keys` inside the JSON object `base` (an SQL expression).

    Empty `keys` mean the object itself.
    """

    base: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class AtomTarget:
    """One element of a multi-valued simple attribute (`schemas`), bound to `alias`."""

    alias: str


@dataclass(frozen=True)
class ConstTarget:
    """A value known without reading the row (`meta.resourceType`); None: absent."""

    value: str | None


Target = ColumnTarget | JsonTarget | AtomTarget | ConstTarget
Leaf = Compare | Present


@dataclass(frozen=True)
class _Scope:
    """What the paths of an expression name.

    Attributes of the row, sub-attributes of one JSON object (inside
    `attr[...]`, at `keys` under `base`), or of one membership row.
    """

    base: str = "r.document"
    keys: tuple[str, ...] = ()
    is_row: bool = True
    membership: str | None = None
    display: str | None = None


class FilterCompiler(ABC):
    """Compiles one statement's filter and sort into SQL text and parameters.

    Create one per statement, since it collects the parameters in order.
    Subclasses spell the dialect's primitives; every value reaches the SQL as
    a parameter, never as text.
    """

    def __init__(self, resource_type: str) -> None:
        self.resource_type = resource_type
        self.params: list[SqlValue] = []
        self._aliases = 0

    # Dialect primitives.

    @abstractmethod
    def placeholder(self, index: int) -> str:
        """The marker of the `index`-th (1-based) parameter."""

    @abstractmethod
    def json_value(self, base: str, keys: tuple[str, ...]) -> str:
        """The scalar at `keys` in JSON `base` as an SQL value, NULL when absent."""

    @abstractmethod
    def fold(self, text: str) -> str:
        """`str.lower` of SQL text (not the database's ASCII-only `lower`)."""

    @abstractmethod
    def text_of(self, target: Target, *, folded: bool) -> str:
        """The target as text, optionally folded; NULL unless it is a string."""

    @abstractmethod
    def value_of(self, target: Target) -> str:
        """The target as the database's own value (for sorting); NULL when absent."""

    @abstractmethod
    def number_of(self, target: Target) -> str:
        """The target as a number; NULL unless it is a JSON number."""

    @abstractmethod
    def instant_of(self, target: Target) -> str:
        """The target as `format_instant` text; NULL unless it is a dateTime."""

    @abstractmethod
    def boolean_is(self, target: Target, value: bool) -> str:
        """A predicate: the target is the JSON boolean `value`."""

    @abstractmethod
    def present(self, target: Target) -> str:
        """A predicate: not null, not "", not an empty array or object (§3.4.2.2)."""

    @abstractmethod
    def contains(self, text: str, needle: str) -> str: ...

    @abstractmethod
    def starts_with(self, text: str, prefix: str) -> str: ...

    @abstractmethod
    def ends_with(self, text: str, suffix: str) -> str:
        """Called with a non-empty `suffix` only."""

    @abstractmethod
    def elements(self, base: str, keys: tuple[str, ...], alias: str) -> str:
        """A FROM item yielding one row per element of the JSON array at `keys`."""

    @abstractmethod
    def element_object(self, alias: str) -> str:
        """The JSON object of element `alias`; NULL when the element is no object."""

    @abstractmethod
    def is_primary(self, alias: str) -> str:
        """A predicate: element `alias` is an object with `"primary": true`."""

    @abstractmethod
    def element_order(self, alias: str) -> str:
        """The position of element `alias` in its array, for ORDER BY."""

    def narrowing(self, attr: AttrPath, value: str) -> str | None:
        """An index-usable predicate implied by "some element of `attr` has the
        `value` sub-attribute equal to `value`"; None when the dialect has none.

        Called before the test itself is compiled, so parameters keep their order.
        """
        return None

    # Parameters, aliases, logic.

    def param(self, value: SqlValue) -> str:
        self.params.append(value)
        return self.placeholder(len(self.params))

    def alias(self, prefix: str) -> str:
        self._aliases += 1
        return f"{prefix}{self._aliases}"

    def negate(self, predicate: str) -> str:
        return f"NOT COALESCE({predicate}, FALSE)"

    # The filter.

    def where(self, expr: Expr) -> str:
        """An SQL predicate over `resources r` that holds where `expr` matches."""
        return self._expr(expr, _Scope())

    def _expr(self, expr: Expr, scope: _Scope) -> str:
        if isinstance(expr, And):
            left, right = self._expr(expr.left, scope), self._expr(expr.right, scope)
            return f"({left} AND {right})"
        if isinstance(expr, Or):
            left, right = self._expr(expr.left, scope), self._expr(expr.right, scope)
            return f"({left} OR {right})"
        if isinstance(expr, Not):
            return self.negate(self._expr(expr.expr, scope))
        if isinstance(expr, ValuePath):
            return self._value_path(expr, scope)
        if isinstance(expr, Compare) and expr.op is CompareOp.NE:
            # `ne` is `not eq` around the whole attribute, not per element.
            return self.negate(self._leaf(_with_op(expr, CompareOp.EQ), scope))
        return self._leaf(expr, scope)

    def _leaf(self, leaf: Leaf, scope: _Scope) -> str:
        path = leaf.path
        if scope.membership is not None:
            return self._test(leaf, self._membership_target(path.name, scope))
        if not scope.is_row:
            return self._test(leaf, JsonTarget(scope.base, (*scope.keys, *_keys(path))))
        if self._is_membership(path):
            return self._membership_leaf(leaf)
        if path.multi_valued:
            return self._any_element(leaf)
        if (
            path.type is AttrType.COMPLEX
            and path.sub is None
            and isinstance(leaf, Compare)
        ):
            # A complex value compared as a whole compares its "value".
            return self._test(leaf, JsonTarget("r.document", (*_keys(path), "value")))
        return self._test(leaf, self._row_target(path))

    def _membership_leaf(self, leaf: Leaf) -> str:
        path = leaf.path
        if isinstance(leaf, Present) and path.sub is None:
            return self._membership_exists(lambda scope: "TRUE")
        sub = AttrPath(
            path.sub or "value", type=AttrType.STRING, case_exact=path.case_exact
        )
        inner: Leaf = (
            Present(sub) if isinstance(leaf, Present) else _with_path(leaf, sub)
        )
        return self._membership_exists(lambda scope: self._leaf(inner, scope))

    def _test(self, leaf: Leaf, target: Target) -> str:
        if isinstance(leaf, Present):
            return self.present(target)
        return self._compare(target, leaf)

    def _value_path(self, expr: ValuePath, scope: _Scope) -> str:
        attr = expr.attr
        if self._is_membership(attr):
            return self._membership_exists(lambda inner: self._expr(expr.filter, inner))
        if not attr.multi_valued:
            # A single complex attribute: its one "element" is the object itself.
            inner = _Scope(base=scope.base, keys=_keys(attr), is_row=False)
            return self._expr(expr.filter, inner)
        value = _required_value(expr.filter)
        narrowing = None if value is None else self.narrowing(attr, value)
        alias = self.alias("e")
        inner = _Scope(base=self.element_object(alias), is_row=False)
        froms = self.elements("r.document", _keys(attr), alias)
        condition = self._expr(expr.filter, inner)
        exists = f"EXISTS (SELECT 1 FROM {froms} WHERE {condition})"
        return exists if narrowing is None else f"({narrowing} AND {exists})"

    def _any_element(self, leaf: Leaf) -> str:
        path = leaf.path
        value = _value_eq(leaf)
        narrowing = None if value is None else self.narrowing(path, value)
        alias = self.alias("e")
        if isinstance(leaf, Present) and path.sub is None:
            # Some element is present: `emails pr` is false for `[{}]`.
            target: Target = AtomTarget(alias)
        else:
            target = self._element_target(path, alias)
        froms = self.elements("r.document", _array_keys(path), alias)
        exists = f"EXISTS (SELECT 1 FROM {froms} WHERE {self._test(leaf, target)})"
        return exists if narrowing is None else f"({narrowing} AND {exists})"

    def _element_target(self, path: AttrPath, alias: str) -> Target:
        if path.sub is not None:
            return JsonTarget(self.element_object(alias), (path.sub,))
        if path.type is AttrType.COMPLEX:
            # A complex multi-valued attribute compared as a whole compares its
            # "value" sub-attribute, as the evaluator does.
            return JsonTarget(self.element_object(alias), ("value",))
        return AtomTarget(alias)

    # Attributes.

    def _row_target(self, path: AttrPath) -> Target:
        column = self._column_target(path)
        if column is not None:
            return column
        return JsonTarget("r.document", _keys(path))

    def _column_target(self, path: AttrPath) -> Target | None:
        if path.uri is not None:
            return None
        if path.name == "meta":
            return self._meta_target(path.sub)
        if path.sub is not None:
            return None
        if path.name == "id":
            return ColumnTarget("r.id")
        if path.name == "externalId":
            return ColumnTarget("r.external_id")
        if path.name == "displayName":
            return ColumnTarget("r.display_name", "r.display_name_folded")
        if path.name == "userName" and self.resource_type == USER:
            user_name = self.json_value("r.document", ("userName",))
            return ColumnTarget(user_name, "r.user_name_folded")
        return None

    def _meta_target(self, sub: str | None) -> Target:
        if sub == "created":
            return ColumnTarget("r.created")
        if sub == "lastModified":
            return ColumnTarget("r.last_modified")
        if sub == "resourceType":
            return ConstTarget(self.resource_type)
        return ConstTarget(None)

    def _is_membership(self, path: AttrPath) -> bool:
        if path.uri is not None:
            return False
        return (path.name, self.resource_type) in {("members", GROUP), ("groups", USER)}

    def _membership_exists(self, predicate: Callable[[_Scope], str]) -> str:
        alias, display = self.alias("m"), self.alias("d")
        own, other = self._membership_columns()
        condition = predicate(_Scope(is_row=False, membership=alias, display=display))
        join = ""
        if f"{display}." in condition:
            join = (
                f" JOIN resources AS {display} ON {display}.tenant = {alias}.tenant"
                f" AND {display}.id = {alias}.{other}"
            )
        return (
            f"EXISTS (SELECT 1 FROM memberships AS {alias}{join}"
            f" WHERE {alias}.tenant = r.tenant AND {alias}.{own} = r.id"
            f" AND {condition})"
        )

    def _membership_columns(self) -> tuple[str, str]:
        """The membership column naming the row, and the one naming the other end."""
        if self.resource_type == GROUP:
            return "group_id", "member_id"
        return "member_id", "group_id"

    def _membership_target(self, name: str, scope: _Scope) -> Target:
        alias, display = scope.membership, scope.display
        if name == "value":
            return ColumnTarget(f"{alias}.{self._membership_columns()[1]}")
        if name == "display":
            user_name = self.json_value(f"{display}.document", ("userName",))
            return ColumnTarget(f"COALESCE({display}.display_name, {user_name})")
        if name == "type":
            if self.resource_type == GROUP:
                return ColumnTarget(f"{alias}.member_type")
            return ConstTarget("direct")
        return ConstTarget(None)

    # Comparisons.

    def _compare(self, target: Target, leaf: Compare) -> str:
        op, value, path = leaf.op, leaf.value, leaf.path
        if value is None:
            present = self.present(target)
            return self.negate(present) if op is CompareOp.EQ else present
        if isinstance(value, bool):
            return self.boolean_is(target, value) if op is CompareOp.EQ else "FALSE"
        if isinstance(value, datetime) or path.type is AttrType.DATETIME:
            instant = normalize_instant(value)
            if instant is None or op not in _ORDERING:
                return "FALSE"
            return self._text_test(self.instant_of(target), op, instant)
        if isinstance(value, str):
            is_folded = not path.case_exact
            text = self.text_of(target, folded=is_folded)
            return self._text_test(text, op, fold(value) if is_folded else value)
        if op in _ORDERING:
            return f"{self.number_of(target)} {_ORDERING[op]} {self.param(value)}"
        return "FALSE"

    def _text_test(self, text: str, op: CompareOp, value: str | None) -> str:
        if op in _ORDERING:
            return f"{text} {_ORDERING[op]} {self.param(value)}"
        if value is None:
            return "FALSE"
        if op is CompareOp.CO:
            return self.contains(text, value)
        if op is CompareOp.SW:
            return self.starts_with(text, value)
        if value == "":
            return f"{text} IS NOT NULL"
        return self.ends_with(text, value)

    # Sorting.

    def order_by(self, sort: SortSpec | None) -> str:
        """ORDER BY terms: the sort key, absent values last ascending (first
        descending), then creation order so that pages are stable."""
        if sort is None:
            return "r.seq"
        key = self.sort_key(sort.path)
        if sort.descending:
            return f"{key} DESC NULLS FIRST, r.seq"
        return f"{key} ASC NULLS LAST, r.seq"

    def sort_key(self, path: AttrPath) -> str:
        """The value a resource sorts by, NULL when it has none (RFC 7644 §3.4.2.3)."""
        if self._is_membership(path):
            return "NULL"
        path = value_of_complex(path)
        if path.multi_valued:
            return self._element_sort_key(path)
        return self._scalar_sort_key(self._row_target(path), path)

    def _scalar_sort_key(self, target: Target, path: AttrPath) -> str:
        if path.type is AttrType.DATETIME:
            return self.instant_of(target)
        if path.type is AttrType.STRING and not path.case_exact:
            return self.text_of(target, folded=True)
        return self.value_of(target)

    def _element_sort_key(self, path: AttrPath) -> str:
        # RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary
        # value, else by its first.
        alias = self.alias("e")
        key = self._scalar_sort_key(self._element_target(path, alias), path)
        froms = self.elements("r.document", _array_keys(path), alias)
        order = f"{self.is_primary(alias)} DESC, {self.element_order(alias)}"
        return f"(SELECT {key} FROM {froms} ORDER BY {order} LIMIT 1)"


def value_of_complex(path: AttrPath) -> AttrPath:
    """A complex attribute named whole stands for its `value` (RFC 7643 §2.4)."""
    if path.type is not AttrType.COMPLEX or path.sub is not None:
        return path
    return replace(path, sub="value", type=AttrType.STRING)


def _value_eq(leaf: Leaf) -> str | None:
    """The text of `attr.value eq "text"` (`attr eq "text"` on a complex `attr`)."""
    if not isinstance(leaf, Compare) or leaf.op is not CompareOp.EQ:
        return None
    path = value_of_complex(leaf.path)
    if path.sub != "value" or path.type is not AttrType.STRING:
        return None
    return leaf.value if isinstance(leaf.value, str) else None


def _required_value(expr: Expr) -> str | None:
    """The text that `value eq` demands in a top-level conjunct of a value filter."""
    if isinstance(expr, And):
        left = _required_value(expr.left)
        return left if left is not None else _required_value(expr.right)
    if not isinstance(expr, Compare) or expr.op is not CompareOp.EQ:
        return None
    path = expr.path
    if path.name != "value" or path.sub is not None or path.type is not AttrType.STRING:
        return None
    return expr.value if isinstance(expr.value, str) else None


def _keys(path: AttrPath) -> tuple[str, ...]:
    keys = (path.name,) if path.sub is None else (path.name, path.sub)
    return keys if path.uri is None else (path.uri, *keys)


def _array_keys(path: AttrPath) -> tuple[str, ...]:
    return (path.name,) if path.uri is None else (path.uri, path.name)


def _with_path(leaf: Compare, path: AttrPath) -> Compare:
    return Compare(path, leaf.op, leaf.value)


def _with_op(leaf: Compare, op: CompareOp) -> Compare:
    return Compare(leaf.path, op, leaf.value)
