"""The folders depend on each other one way only (docs/architecture in DESIGN)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Which packages of ours each folder may import.
ALLOWED = {
    "filters": ("scim_gateway.filters",),
    "backends": ("scim_gateway.backends", "scim_gateway.filters"),
    "plugins": ("scim_gateway.plugins",),
}


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
    return modules


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_folder_imports_only_what_it_may(folder: str) -> None:
    allowed = ALLOWED[folder]
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for module in imported_modules(path)
        if module.startswith("scim_gateway")
        and not any(module == a or module.startswith(a + ".") for a in allowed)
    ]

    assert offending == []


def test_no_relative_imports_anywhere() -> None:
    relative = [
        str(path.relative_to(ROOT))
        for folder in ("gateway", "filters", "backends", "plugins")
        for path in (ROOT / folder).rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]

    assert relative == []
