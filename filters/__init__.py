"""The SCIM filter and attribute-path language: parsing, typed AST, evaluation."""

from __future__ import annotations

from scim_gateway.filters.errors import (
    FilterError,
    FilterSyntaxError,
    UnknownAttributeError,
)
from scim_gateway.filters.evaluator import matches, select_elements
from scim_gateway.filters.parser import (
    Resolver,
    parse_attr_path,
    parse_filter,
    parse_path,
)

__all__ = [
    "FilterError",
    "FilterSyntaxError",
    "Resolver",
    "UnknownAttributeError",
    "matches",
    "parse_attr_path",
    "parse_filter",
    "parse_path",
    "select_elements",
]
