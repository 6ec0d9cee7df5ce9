"""scim-gateway: an asynchronous SCIM 2.0 service provider.

What an embedding application needs is importable from here. Each name is
imported on first use, so `import scim_gateway` loads neither the web
framework nor a database driver: pytest imports the package at its start for
the plugin (`scim_gateway.testing`), before coverage measurement begins.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from scim_gateway.app import create_app, gateway_lifespan
    from scim_gateway.auth import DEFAULT_TENANT, Authenticate, bearer_token
    from scim_gateway.backends import backend_from_url
    from scim_gateway.backends.base import Backend
    from scim_gateway.backends.credentials import CredentialStore
    from scim_gateway.backends.memory import MemoryBackend
    from scim_gateway.backends.postgres import PostgresBackend
    from scim_gateway.backends.sqlite import SqliteBackend
    from scim_gateway.changes import ChangeCallback, ChangeEvent, ChangeKind
    from scim_gateway.config import Settings
    from scim_gateway.context import GatewayContext
    from scim_gateway.errors import Forbidden, ScimError, Unauthorized, Unavailable

__version__ = "0.1.0"

__all__ = [
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

_MODULES = {
    "DEFAULT_TENANT": "scim_gateway.auth",
    "Authenticate": "scim_gateway.auth",
    "Backend": "scim_gateway.backends.base",
    "ChangeCallback": "scim_gateway.changes",
    "ChangeEvent": "scim_gateway.changes",
    "ChangeKind": "scim_gateway.changes",
    "CredentialStore": "scim_gateway.backends.credentials",
    "Forbidden": "scim_gateway.errors",
    "GatewayContext": "scim_gateway.context",
    "MemoryBackend": "scim_gateway.backends.memory",
    "PostgresBackend": "scim_gateway.backends.postgres",
    "ScimError": "scim_gateway.errors",
    "Settings": "scim_gateway.config",
    "SqliteBackend": "scim_gateway.backends.sqlite",
    "Unauthorized": "scim_gateway.errors",
    "Unavailable": "scim_gateway.errors",
    "backend_from_url": "scim_gateway.backends",
    "bearer_token": "scim_gateway.auth",
    "create_app": "scim_gateway.app",
    "gateway_lifespan": "scim_gateway.app",
}


def __getattr__(name: str) -> object:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'scim_gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULES})
