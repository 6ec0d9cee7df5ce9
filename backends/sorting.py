"""Sorting resources in Python exactly as the SQL backends' ORDER BY does.

RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary value, else
by its first; resources without a value sort last ascending and first
descending; case-insensitive strings sort by `str.lower`; ties keep creation
order. The SQL side is `FilterCompiler.order_by` in backends/sql.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from scim_gateway.backends.base import SortSpec
from scim_gateway.backends.columns import fold, normalize_instant
from scim_gateway.backends.sql import value_of_complex
from scim_gateway.filters.ast import AttrPath, AttrType

__all__ = ["sort_resources", "sort_value"]

R = TypeVar("R")

_RELATIONS = frozenset({"members", "groups"})


def sort_resources(
    resources: list[R], sort: SortSpec, view: Callable[[R], Mapping[str, Any]]
) -> list[R]:
    """`resources` (in creation order) sorted by `sort`; `view` gives each SCIM view."""
    keyed = [
        (_key(sort_value(view(resource), sort.path)), resource)
        for resource in resources
    ]
    # Python's sort is stable in both directions, so ties keep creation order.
    keyed.sort(key=lambda pair: pair[0], reverse=sort.descending)
    return [resource for _, resource in keyed]


def sort_value(view: Mapping[str, Any], path: AttrPath) -> int | float | str | None:
    """The value a resource sorts by, None when it has none."""
    if path.uri is None and path.name in _RELATIONS:
        return None
    path = value_of_complex(path)
    container = view if path.uri is None else view.get(path.uri)
    if not isinstance(container, Mapping):
        return None
    value = container.get(path.name)
    if path.multi_valued:
        value = _element_value(value, path)
    elif path.sub is not None:
        value = value.get(path.sub) if isinstance(value, Mapping) else None
    return _normalized(value, path)


def _element_value(elements: object, path: AttrPath) -> object:
    if not isinstance(elements, list) or not elements:
        return None
    chosen = next((e for e in elements if _is_primary(e)), elements[0])
    if path.sub is None:
        return chosen
    return chosen.get(path.sub) if isinstance(chosen, Mapping) else None


def _is_primary(element: object) -> bool:
    return isinstance(element, Mapping) and element.get("primary") is True


def _normalized(value: object, path: AttrPath) -> int | float | str | None:
    if path.type is AttrType.DATETIME:
        return normalize_instant(value)
    if path.type is AttrType.STRING and not path.case_exact:
        return fold(value)
    if isinstance(value, int | float | str):
        return value
    return None


def _key(value: int | float | str | None) -> tuple[bool, int, Any]:
    # SQLite orders numbers before text; None goes last (NULLS LAST).
    return (value is None, 1 if isinstance(value, str) else 0, value)
