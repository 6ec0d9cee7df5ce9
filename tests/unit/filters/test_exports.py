"""What `scim_gateway.filters` offers embedders and the other packages."""

from __future__ import annotations

import ast
from pathlib import Path

import scim_gateway.filters


def test_public_names_are_pinned() -> None:
    assert sorted(scim_gateway.filters.__all__) == [
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


def test_filters_import_nothing_else_of_ours() -> None:
    """Dependencies point one way: gateway and backends use filters."""
    package = Path(scim_gateway.filters.__file__).parent
    imported = {
        node.module
        for path in package.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module
    }

    ours = {name for name in imported if name.startswith("scim_gateway")}
    assert all(name.startswith("scim_gateway.filters") for name in ours)
