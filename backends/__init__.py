"""Storage behind the gateway: the backend interface and its implementations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scim_gateway.backends.base import Backend

__all__ = ["backend_from_url", "sqlite_path"]


def sqlite_path(url: str) -> Path | None:
    """The SQLite file a database setting names, or None for another backend.

    As in SQLAlchemy, `sqlite:///var/x.db` is relative and `sqlite:////x.db`
    absolute; a setting with no scheme is a plain path.
    """
    if url == "memory":
        return None
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    if "://" in url:
        return None
    return Path(url)


def backend_from_url(url: str, *, pool_size: int = 10) -> Backend:
    """The backend a database setting names.

    `memory`; `postgresql://…` (or `postgres://…`); a SQLite file as a
    plain path or `sqlite:///path` (see `sqlite_path`).

    Args:
        url: the database setting.
        pool_size: the most connections a Postgres backend opens; the other
            backends ignore it.

    Raises:
        ValueError: the URL names no backend this package has.
    """
    if url == "memory":
        from scim_gateway.backends.memory import MemoryBackend

        return MemoryBackend()
    if url.startswith(("postgresql://", "postgres://")):
        from scim_gateway.backends.postgres import PostgresBackend

        return PostgresBackend(url, max_pool_size=pool_size)
    path = sqlite_path(url)
    if path is None:
        raise ValueError(
            f"unsupported database {url.split('://')[0]}://; "
            "use a SQLite path, sqlite:///, postgresql:// or memory"
        )
    from scim_gateway.backends.sqlite import SqliteBackend

    return SqliteBackend(path)
