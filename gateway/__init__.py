"""scim-gateway: an asynchronous SCIM 2.0 service provider.

What an embedding application needs is importable from here; the backend
classes load their database drivers only when first used.
"""

from __future__ import annotations

import importlib
import typing

from scim_gateway.app import create_app, gateway_lifespan
from scim_gateway.auth import DEFAULT_TENANT, Authenticate, bearer_token
from scim_gateway.backends import backend_from_url
from scim_gateway.backends.base import Backend
from scim_gateway.backends.credentials import CredentialStore
from scim_gateway.changes import ChangeCallback, ChangeEvent, ChangeKind
from scim_gateway.config import Settings
from scim_gateway.context import GatewayContext
from scim_gateway.errors import (
    Forbidden,
    ScimError,
    Unauthorized,
    Unavailable,
)

if typing.TYPE_CHECKING:
    from scim_gateway.backends.memory import MemoryBackend
    from scim_gateway.backends.postgres import PostgresBackend
    from scim_gateway.backends.sqlite import SqliteBackend

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

_BACKENDS = {
    "MemoryBackend": "scim_gateway.backends.memory",
    "PostgresBackend": "scim_gateway.backends.postgres",
    "SqliteBackend": "scim_gateway.backends.sqlite",
}


def __getattr__(name: str) -> object:
    # A backend class imports its driver (aiosqlite, asyncpg) only when asked for.
    module = _BACKENDS.get(name)
    if module is None:
        raise AttributeError(f"module 'scim_gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_BACKENDS})
