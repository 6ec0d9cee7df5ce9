"""Driver errors name the kind of outage the client is told about."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from scim_gateway.backends.errors import Outage, UnavailableError
from scim_gateway.backends.postgres_rows import connection_errors
from scim_gateway.backends.sqlite import translate


@pytest.mark.parametrize(
    ("message", "outage"),
    [
        ("database or disk is full", Outage.FULL),
        ("attempt to write a readonly database", Outage.READ_ONLY),
        ("database is locked", Outage.UNREACHABLE),
        ("disk I/O error", Outage.UNREACHABLE),
    ],
)
def test_sqlite_errors_name_their_outage(message: str, outage: Outage) -> None:
    translated = translate(sqlite3.OperationalError(message))

    assert isinstance(translated, UnavailableError)
    assert translated.outage is outage


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (asyncpg.DiskFullError, Outage.FULL),
        (asyncpg.ReadOnlySQLTransactionError, Outage.READ_ONLY),
        (asyncpg.CannotConnectNowError, Outage.UNREACHABLE),
    ],
)
def test_postgres_errors_name_their_outage(
    error: type[asyncpg.PostgresError], outage: Outage
) -> None:
    with pytest.raises(UnavailableError) as caught, connection_errors():
        raise error("the server says so")

    assert caught.value.outage is outage
    assert "the server says so" not in caught.value.reason
