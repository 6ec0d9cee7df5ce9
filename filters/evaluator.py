"""Evaluate a filter AST against SCIM documents in Python (RFC 7644 §3.4.2.2).

The memory backend filters with `matches` and the PATCH engine picks
elements with `select_elements`; the SQL backends compile the same AST and
must give the same answers, so the semantics are written down here exactly.

Values of a path. `uri:name.sub` reads `resource[uri][name][sub]` (`uri` only
for extension attributes; core and common attributes, `id` and `meta`
included, sit at the top level). The values of a path are a list: for a
multi-valued attribute its elements (without `sub`) or the `sub` of each
element that is an object; for a single-valued one the value itself. A
missing key or a null gives no value. Keys are matched exactly: documents
carry canonical names.

Two-valued logic. Every node is true or false, never unknown:

* `pr` is true when some value is present: not null, not `""`, not `[]`,
  not `{}`. So `title pr` is false for `"title": ""` and `emails pr` is
  false for `"emails": []`.
* `eq co sw ew gt ge lt le` are true when some value satisfies the
  comparison (a multi-valued attribute matches if any element does). With no
  values they are false.
* `ne` is exactly `not eq`: true when no value equals the literal, so also
  when the attribute is absent (`title ne "x"` selects users without a
  title), and for a multi-valued attribute only when no element equals it
  (`emails.type ne "work"` selects users without a work e-mail).
* `not` negates, `and` and `or` combine, all in two-valued logic:
  `not (title eq "x")` is true for a user without a title. SQL must
  therefore make each comparison false, not NULL, on a missing value (e.g.
  `COALESCE(..., FALSE)` or `EXISTS`), or `NOT` drops those rows.
* `attr[filter]` is true when some element of `attr` that is an object
  satisfies `filter`, whose paths name keys of that element.

Comparing one value with the literal:

* Strings: with caseExact both sides as they are, else both through
  `str.lower()` (not `casefold`, so Postgres `lower()` and a Python function
  registered in SQLite agree). `co`/`sw`/`ew` are substring, prefix and
  suffix tests (`"" co ""` is true); `gt`/`ge`/`lt`/`le` order by Unicode
  code point (in Postgres, `COLLATE "C"`).
* dateTimes: both sides as instants; a stored value is an ISO 8601 string
  or a datetime, taken as UTC when it has no offset.
* Booleans equal booleans, numbers compare with numbers (never a boolean).
* A value of another type than the literal (a number where a string is
  expected, a date that does not parse) never satisfies the comparison, and
  nothing raises.
* A complex value compared without a sub-attribute is compared through its
  `value` key (the parser already rewrites `emails co "x"` to
  `emails.value`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

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
from scim_gateway.filters.literals import to_instant

__all__ = ["matches", "select_elements"]


def matches(expr: Expr, resource: Mapping[str, Any]) -> bool:
    """Whether the SCIM document `resource` satisfies the filter `expr`.

    `resource` is the document as the gateway returns it: `id`, `meta`,
    core attributes at the top level, extension attributes under their URN,
    `members` / `groups` as lists of `{value, display, type}`.
    """
    return _evaluate(expr, resource)


def select_elements(expr: Expr, elements: Sequence[Any]) -> list[int]:
    """The indices of the elements of a multi-valued attribute that match `expr`.

    For a PATCH path such as `emails[type eq "work"]`: `expr` is the value
    filter, whose paths name sub-attributes of each element. Elements that
    are not objects match nothing.
    """
    return [
        index
        for index, element in enumerate(elements)
        if isinstance(element, Mapping) and _evaluate(expr, element)
    ]


def _evaluate(expr: Expr, scope: Mapping[str, Any]) -> bool:
    match expr:
        case Compare(path, CompareOp.NE, value):
            return not _compare_any(path, CompareOp.EQ, value, scope)
        case Compare(path, op, value):
            return _compare_any(path, op, value, scope)
        case Present(path):
            return any(_is_present(value) for value in _values(path, scope))
        case And(left, right):
            return _evaluate(left, scope) and _evaluate(right, scope)
        case Or(left, right):
            return _evaluate(left, scope) or _evaluate(right, scope)
        case Not(inner):
            return not _evaluate(inner, scope)
        case ValuePath(attr, inner):
            elements = _values(attr, scope)
            return any(isinstance(e, Mapping) and _evaluate(inner, e) for e in elements)
    raise TypeError(f"not a filter node: {expr!r}")


def _values(path: AttrPath, scope: Mapping[str, Any]) -> list[Any]:
    container: object = scope if path.uri is None else scope.get(path.uri)
    if not isinstance(container, Mapping):
        return []
    value = container.get(path.name)
    items = value if isinstance(value, list) else [value]
    if path.sub is not None:
        items = [item.get(path.sub) for item in items if isinstance(item, Mapping)]
    return [item for item in items if item is not None]


def _is_present(value: object) -> bool:
    return value not in ("", [], {}) and value is not None


def _compare_any(
    path: AttrPath, op: CompareOp, literal: Value, scope: Mapping[str, Any]
) -> bool:
    if literal is None:
        # The parser rewrites `eq null`; an AST built by hand gets the same.
        present = any(_is_present(v) for v in _values(path, scope))
        return not present if op is CompareOp.EQ else False
    return any(_compare(path, op, value, literal) for value in _values(path, scope))


def _compare(path: AttrPath, op: CompareOp, value: object, literal: Value) -> bool:
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(literal, bool) or isinstance(value, bool):
        return _same_booleans(op, value, literal)
    if isinstance(literal, datetime) or path.type is AttrType.DATETIME:
        left, right = to_instant(value), to_instant(literal)
        return left is not None and right is not None and _order(op, left, right)
    if isinstance(literal, int | float):
        return isinstance(value, int | float) and _order(op, value, literal)
    if isinstance(literal, str) and isinstance(value, str):
        return _compare_strings(op, value, literal, case_exact=path.case_exact)
    return False


def _same_booleans(op: CompareOp, value: object, literal: Value) -> bool:
    both = isinstance(value, bool) and isinstance(literal, bool)
    return both and op is CompareOp.EQ and value is literal


def _compare_strings(
    op: CompareOp, value: str, literal: str, *, case_exact: bool
) -> bool:
    if not case_exact:
        value, literal = value.lower(), literal.lower()
    if op is CompareOp.CO:
        return literal in value
    if op is CompareOp.SW:
        return value.startswith(literal)
    if op is CompareOp.EW:
        return value.endswith(literal)
    return _order(op, value, literal)


def _order(op: CompareOp, left: Any, right: Any) -> bool:
    """`eq` and the ordering operators on two values of one comparable type."""
    if op is CompareOp.EQ:
        return bool(left == right)
    if op is CompareOp.GT:
        return bool(left > right)
    if op is CompareOp.GE:
        return bool(left >= right)
    if op is CompareOp.LT:
        return bool(left < right)
    if op is CompareOp.LE:
        return bool(left <= right)
    return False
