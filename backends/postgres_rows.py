"""What the Postgres backend reads and writes besides SQL: rows, columns, errors.

Driver errors that mean "the database is not reachable or not usable now"
become `UnavailableError` here, so that a lost connection is a 503 with a retry
hint and never a raw asyncpg exception.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from scim_gateway.backends.base import USER, GroupRef, Member, StoredResource
from scim_gateway.backends.errors import Outage, UnavailableError

__all__ = [
    "DerivedColumns",
    "connection_errors",
    "decode_json",
    "derive_columns",
    "init_connection",
    "to_groups",
    "to_members",
    "to_resource",
    "unique_attribute",
]

logger = logging.getLogger(__name__)

# Class 08 (connection exception), 53 (insufficient resources: too many
# connections, disk full), 57 (operator intervention: shutdown, cannot connect
# now, statement timeout), 40 (serialization failure, deadlock: retry) and
# 25006 (read-only transaction: a standby after failover) are all "try again".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
    asyncpg.TransactionRollbackError,
    asyncpg.ReadOnlySQLTransactionError,
)

# asyncpg's own client-side errors; these mean the connection or pool is gone.
# ("released back to the pool": the pool reclaims a connection whose server
# went away while a transaction still held it.)
_GONE = (
    "closed",
    "closing",
    "connection was",
    "not connected",
    "terminated",
    "released back to the pool",
)


@contextmanager
def connection_errors() -> Iterator[None]:
    """Turn driver errors about the connection into `UnavailableError`."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise _unavailable(exc) from exc
    except asyncpg.InterfaceError as exc:
        if not any(word in str(exc) for word in _GONE):
            raise
        raise _unavailable(exc) from exc


def _unavailable(exc: BaseException) -> UnavailableError:
    # The class name only: driver messages may name hosts and users.
    kind = type(exc).__name__
    logger.warning("postgres.unavailable error=%s", kind)
    return UnavailableError(f"PostgreSQL is unavailable ({kind})", outage=_outage(exc))


def _outage(exc: BaseException) -> Outage:
    if isinstance(exc, asyncpg.DiskFullError):
        return Outage.FULL
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return Outage.READ_ONLY
    return Outage.UNREACHABLE


async def init_connection(connection: asyncpg.Connection) -> None:
    """Encode jsonb from Python objects on every new pool connection, and read
    it as the server's JSON text.

    Reads keep the text: a stored resource decodes it only when asked for its
    document (`StoredResource`), and a page rendered whole never does;
    `decode_json` gives other jsonb values their Python form.
    """
    await connection.set_type_codec(
        "jsonb",
        encoder=_dumps,
        decoder=_text,
        schema="pg_catalog",
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _text(value: str) -> str:
    return value


def decode_json(text: str) -> Any:
    """A jsonb column's value, read as text, in its Python form."""
    # The standard library keeps integers past 64 bits exact.
    return json.loads(text)


def unique_attribute(resource_type: str) -> str:
    """The attribute whose folded form is unique per tenant (RFC 7643 §4)."""
    return "userName" if resource_type == USER else "displayName"


@dataclass(frozen=True)
class DerivedColumns:
    """The columns kept beside the document, computed in Python."""

    user_name_folded: str | None
    external_id: str | None
    display_name: str | None
    display_name_folded: str | None

    def as_args(self) -> tuple[str | None, str | None, str | None, str | None]:
        return (
            self.user_name_folded,
            self.external_id,
            self.display_name,
            self.display_name_folded,
        )


def derive_columns(resource_type: str, document: dict[str, Any]) -> DerivedColumns:
    # str.lower(), not the database's lower(): every backend folds the same way.
    user_name = _string(document, "userName") if resource_type == USER else None
    display_name = _string(document, "displayName")
    return DerivedColumns(
        user_name_folded=None if user_name is None else user_name.lower(),
        external_id=_string(document, "externalId"),
        display_name=display_name,
        display_name_folded=None if display_name is None else display_name.lower(),
    )


def _string(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) else None


def to_resource(
    row: asyncpg.Record,
    *,
    members: list[Member] | None = None,
    groups: list[GroupRef] | None = None,
) -> StoredResource:
    """A `StoredResource` from a row that starts with `postgres_query.COLUMNS`."""
    return StoredResource(
        resource_type=row["resource_type"],
        id=row["id"],
        text=row["document"],
        version=row["version"],
        created=row["created"],
        last_modified=row["last_modified"],
        members=members,
        groups=groups,
    )


def to_members(
    ids: Sequence[str] | None,
    types: Sequence[str] | None,
    displays: Sequence[str | None] | None,
) -> list[Member]:
    """Members from the parallel arrays of one aggregate (empty arrays are NULL)."""
    if ids is None or types is None or displays is None:
        return []
    return [Member(*member) for member in zip(ids, types, displays, strict=True)]


def to_groups(
    ids: Sequence[str] | None, displays: Sequence[str | None] | None
) -> list[GroupRef]:
    if ids is None or displays is None:
        return []
    return [GroupRef(*group) for group in zip(ids, displays, strict=True)]
