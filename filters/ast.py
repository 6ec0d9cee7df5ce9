"""The typed syntax tree of SCIM filters and paths (RFC 7644 §3.4.2.2, §3.5.2).

The parser (filters/parser.py) resolves every `AttrPath` as it reads it, so
each node it returns carries canonical spelling and the characteristics
(type, caseExact, multi-valued) that both consumers need: the Python
evaluator (filters/evaluator.py, which also states the exact semantics) and
the SQL compilers. Chains of `and` / `or` arrive as balanced trees. Nodes are
frozen and hashable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "And",
    "AttrPath",
    "AttrType",
    "Compare",
    "CompareOp",
    "Expr",
    "Not",
    "Or",
    "PatchPath",
    "Present",
    "Value",
    "ValuePath",
]


class AttrType(enum.Enum):
    """The SCIM attribute data types of RFC 7643 §2.3."""

    STRING = "string"
    BOOLEAN = "boolean"
    DECIMAL = "decimal"
    INTEGER = "integer"
    DATETIME = "dateTime"
    BINARY = "binary"
    REFERENCE = "reference"
    COMPLEX = "complex"


class CompareOp(enum.Enum):
    EQ = "eq"
    NE = "ne"
    CO = "co"
    SW = "sw"
    EW = "ew"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"


Value = str | int | float | bool | datetime | None


@dataclass(frozen=True)
class AttrPath:
    """One attribute, optionally one of its sub-attributes.

    `uri` is the URN of the extension schema the attribute belongs to, under
    which the document nests it; it is None for core and common attributes
    once resolved (before, it is whatever prefix the client wrote). `name`
    and `sub` are canonical once resolved. The characteristics describe the
    attribute the path ends at: for `emails.value` that is the string
    `value`, multi-valued because `emails` is.
    """

    name: str
    sub: str | None = None
    uri: str | None = None
    type: AttrType = AttrType.STRING
    case_exact: bool = False
    multi_valued: bool = False

    @property
    def dotted(self) -> str:
        return self.name if self.sub is None else f"{self.name}.{self.sub}"


@dataclass(frozen=True)
class Compare:
    """`path op value`; from the parser, `value` already has the path's type.

    `str` for string, reference and binary attributes, `bool` for booleans,
    `int` / `float` for numbers, an aware UTC `datetime` for dateTimes. The
    parser never leaves None: `eq null` becomes `not (pr)`, `ne null` `pr`.
    """

    path: AttrPath
    op: CompareOp
    value: Value


@dataclass(frozen=True)
class Present:
    path: AttrPath


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    expr: Expr


@dataclass(frozen=True)
class ValuePath:
    """`attr[filter]`: some element of the multi-valued `attr` matches `filter`.

    Paths inside `filter` name sub-attributes of `attr`, relative to one
    element: `AttrPath.name` is the canonical sub-attribute name, `sub` and
    `uri` are None, `type` and `case_exact` are the sub-attribute's, and
    `multi_valued` is False, as in `emails[type eq "work"]`. The parser only
    builds one for a multi-valued complex `attr`, and never nests them. The
    filter form `emails[type eq "work"].value eq "x"` becomes
    `ValuePath(emails, And(type eq "work", value eq "x"))`.
    """

    attr: AttrPath
    filter: Expr


Expr = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PatchPath:
    """A PATCH `path` (RFC 7644 §3.5.2): `attr`, `attr.sub`, or `attr[filter].sub`.

    `attr` names the attribute (without `sub`), `value_filter` selects elements
    of a multi-valued attribute (its paths as in `ValuePath`), and `sub` is the
    canonical name of the sub-attribute to change.
    """

    attr: AttrPath
    value_filter: Expr | None = None
    sub: str | None = None
