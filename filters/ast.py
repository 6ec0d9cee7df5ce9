"""The typed syntax tree of SCIM filters and PATCH paths (RFC 7644 §3.4.2.2, §3.5.2).

The parser builds these nodes with raw attribute names; `resolve_filter` and
`resolve_path` then give every `AttrPath` its canonical spelling and the
characteristics (type, caseExact, multi-valued) that both consumers need: the
Python evaluator and the SQL compilers. Nodes are frozen and hashable.
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

    Paths inside `filter` name sub-attributes of `attr` (`AttrPath.name` is the
    sub-attribute, `sub` is None), as in `emails[type eq "work"]`.
    """

    attr: AttrPath
    filter: Expr


Expr = Compare | Present | And | Or | Not | ValuePath


@dataclass(frozen=True)
class PatchPath:
    """A PATCH `path` (RFC 7644 §3.5.2): `attr`, `attr.sub`, or `attr[filter].sub`.

    `attr` names the attribute (without `sub`), `value_filter` selects elements
    of a multi-valued attribute, and `sub` is the sub-attribute to change.
    """

    attr: AttrPath
    value_filter: Expr | None = None
    sub: str | None = None
