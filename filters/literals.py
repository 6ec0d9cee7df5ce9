"""Comparison literals: how a filter value must fit the attribute it is compared with.

After resolution every `Compare` gets a value of the attribute's own kind, so
the evaluator and the SQL compilers never meet a mismatch the parser could
have refused (RFC 7644 §3.4.2.2, Table 3):

| attribute type               | literal                | value in the AST     |
| ---------------------------- | ---------------------- | -------------------- |
| string, reference, binary    | string                 | `str`                |
| string, reference, binary    | number                 | `str`, as written    |
| boolean                      | true / false           | `bool`               |
| integer, decimal             | number                 | `int` / `float`      |
| dateTime                     | string (ISO 8601)      | aware UTC `datetime` |
| any                          | null (`eq` / `ne` only)| rewritten to `pr`    |

`attr eq null` becomes `not (attr pr)` and `attr ne null` becomes `attr pr`,
so no `Compare` holds None. Everything else is a `FilterError`: ordering a
boolean or binary attribute, `co` / `sw` / `ew` on anything but a string,
a boolean against a non-boolean, a date that does not parse.
"""

from __future__ import annotations

from datetime import UTC, datetime

from scim_gateway.filters.ast import (
    AttrPath,
    AttrType,
    Compare,
    CompareOp,
    Expr,
    Not,
    Present,
)
from scim_gateway.filters.errors import FilterError

__all__ = ["Scalar", "check_comparison", "to_instant"]

Scalar = str | int | float | bool | None

ORDERING = frozenset({CompareOp.GT, CompareOp.GE, CompareOp.LT, CompareOp.LE})
SUBSTRING = frozenset({CompareOp.CO, CompareOp.SW, CompareOp.EW})
_TEXT_TYPES = frozenset({AttrType.STRING, AttrType.REFERENCE, AttrType.BINARY})
_NUMBER_TYPES = frozenset({AttrType.INTEGER, AttrType.DECIMAL})


def to_instant(value: object) -> datetime | None:
    """`value` as an aware UTC datetime, or None when it is no date.

    Accepts datetimes and ISO 8601 strings (`2020-01-01T00:00:00Z`); a value
    without a UTC offset is taken as UTC.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before datetime.min
        return None


def check_comparison(
    path: AttrPath, op: CompareOp, value: Scalar, *, raw: str, position: int
) -> Expr:
    """The node for `path op value`, with `value` converted to the path's type.

    `raw` is the literal as written (a number compared with a string attribute
    keeps its spelling); `position` is where the comparison starts.

    Raises:
        FilterError: the literal or the operator does not fit the attribute.
    """
    if value is None:
        return _null_comparison(path, op, position)
    if isinstance(value, bool) or path.type is AttrType.BOOLEAN:
        return Compare(path, op, _boolean(path, op, value, position))
    if path.type is AttrType.DATETIME:
        return Compare(path, op, _instant(path, op, value, position))
    if path.type in _NUMBER_TYPES:
        return Compare(path, op, _number(path, op, value, position))
    if path.type in _TEXT_TYPES:
        return Compare(path, op, _text(path, op, value, raw, position))
    raise _error(f'the complex attribute "{path.dotted}" cannot be compared', position)


def _null_comparison(path: AttrPath, op: CompareOp, position: int) -> Expr:
    if op is CompareOp.EQ:
        return Not(Present(path))
    if op is CompareOp.NE:
        return Present(path)
    raise _error(f'"{op.value}" cannot compare "{path.dotted}" with null', position)


def _boolean(path: AttrPath, op: CompareOp, value: Scalar, position: int) -> bool:
    if path.type is not AttrType.BOOLEAN:
        raise _error(f'"{path.dotted}" cannot be compared with a boolean', position)
    if not isinstance(value, bool):
        raise _error(f'the boolean "{path.dotted}" needs true or false', position)
    if op in ORDERING or op in SUBSTRING:
        # RFC 7644 §3.4.2.2: gt/ge/lt/le on a boolean SHALL fail with 400
        # invalidFilter; co/sw/ew are string operators.
        raise _error(
            f'"{op.value}" cannot compare the boolean "{path.dotted}"', position
        )
    return value


def _instant(path: AttrPath, op: CompareOp, value: Scalar, position: int) -> datetime:
    if op in SUBSTRING:
        raise _error(
            f'"{op.value}" cannot compare the dateTime "{path.dotted}"', position
        )
    instant = to_instant(value) if isinstance(value, str) else None
    if instant is None:
        raise _error(
            f'"{path.dotted}" needs an ISO 8601 dateTime such as '
            '"2020-01-01T00:00:00Z"',
            position,
        )
    return instant


def _number(path: AttrPath, op: CompareOp, value: Scalar, position: int) -> int | float:
    if op in SUBSTRING:
        raise _error(
            f'"{op.value}" cannot compare the number "{path.dotted}"', position
        )
    if not isinstance(value, int | float):
        raise _error(f'the number "{path.dotted}" needs a numeric value', position)
    return value


def _text(path: AttrPath, op: CompareOp, value: Scalar, raw: str, position: int) -> str:
    if path.type is AttrType.BINARY and op in ORDERING:
        # RFC 7644 §3.4.2.2: binary attributes cannot be ordered.
        raise _error(f'"{op.value}" cannot order the binary "{path.dotted}"', position)
    if isinstance(value, str):
        return value
    # A client writing `externalId eq 12345` means the digits it wrote.
    return raw


def _error(detail: str, position: int) -> FilterError:
    return FilterError(f"{detail} at position {position}")
