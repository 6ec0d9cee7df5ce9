"""Storage behind the gateway: the backend interface and its implementations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scim_gateway.backends.base import Backend

__all__ = ["backend_from_url"]


def backend_from_url(url: str) -> Backend:
    """The backend a database setting names.

    `memory`; `postgresql://…` (or `postgres://…`); `sqlite:///path`,
    `sqlite://relative/path` or a plain file path for SQLite.
    """
    if url == "memory":
        from scim_gateway.backends.memory import MemoryBackend

        return MemoryBackend()
    if url.startswith(("postgresql://", "postgres://")):
        from scim_gateway.backends.postgres import PostgresBackend

        return PostgresBackend(url)
    from scim_gateway.backends.sqlite import SqliteBackend

    path = url.removeprefix("sqlite://") if url.startswith("sqlite://") else url
    return SqliteBackend(Path(path))
