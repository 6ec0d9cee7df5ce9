"""What `scim_gateway` offers embedders, pinned like httpx's exported members."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import scim_gateway

PUBLIC = [
    "DEFAULT_TENANT",
    "Authenticate",
    "Backend",
    "ChangeCallback",
    "ChangeEvent",
    "ChangeKind",
    "CredentialStore",
    "Forbidden",
    "GatewayContext",
    "MemoryBackend",
    "PostgresBackend",
    "ScimError",
    "Settings",
    "SqliteBackend",
    "Unauthorized",
    "Unavailable",
    "__version__",
    "backend_from_url",
    "bearer_token",
    "create_app",
    "gateway_lifespan",
]


def test_public_names_are_pinned() -> None:
    assert scim_gateway.__all__ == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_can_be_imported(name: str) -> None:
    assert getattr(scim_gateway, name) is not None


def test_nothing_public_is_left_out_of_all() -> None:
    public = {
        name
        for name, value in vars(scim_gateway).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    public.discard("annotations")  # `from __future__ import annotations`

    assert public <= set(PUBLIC)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Gateway'"):
        getattr(scim_gateway, "Gateway")  # noqa: B009  # the point of the test


def test_importing_the_package_and_its_plugin_loads_no_framework_or_driver() -> None:
    """pytest imports the plugin before coverage starts: it must import little."""
    script = (
        "import sys, scim_gateway.testing; "
        "print(sorted(m for m in ('aiosqlite', 'asyncpg', 'starlette', "
        "'scim_gateway.app') if m in sys.modules))"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
