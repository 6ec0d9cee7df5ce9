"""Installed, the four folders form one namespaced package and nothing generic."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_holds_only_the_scim_gateway_package(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "--wheel-dir",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")

    names = zipfile.ZipFile(wheel).namelist()

    assert {name.split("/")[0] for name in names} == {
        "scim_gateway",
        "scim_gateway-0.1.0.dist-info",
    }
    assert {"scim_gateway/filters/ast.py", "scim_gateway/backends/base.py"} <= set(
        names
    )
    assert "scim_gateway/plugins/__init__.py" in names


def test_host_with_its_own_plugins_and_filters_packages_imports_both(
    tmp_path: Path,
) -> None:
    for name in ("plugins", "filters", "backends"):
        package = tmp_path / name
        package.mkdir()
        (package / "__init__.py").write_text(f"OWNER = 'host {name}'\n")
    script = textwrap.dedent(
        """
        import plugins, filters, backends
        import scim_gateway.plugins, scim_gateway.filters.ast
        import scim_gateway.backends.base
        assert plugins.OWNER == "host plugins", plugins.__file__
        assert filters.OWNER == "host filters", filters.__file__
        assert backends.OWNER == "host backends", backends.__file__
        print("ok")
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
