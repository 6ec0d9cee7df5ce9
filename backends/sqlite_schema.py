"""The SQLite schema: numbered migrations, connection settings, SQL functions.

Everything here runs on a connection's own thread (see `SqliteBackend`).
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime

from scim_gateway.backends import sqlite_credentials as credentials
from scim_gateway.backends import sqlite_emails as emails
from scim_gateway.backends import sqlite_invitations as invitations
from scim_gateway.backends.columns import fold, normalize_instant
from scim_gateway.backends.errors import UnavailableError

__all__ = ["MIGRATIONS", "apply_migrations", "configure"]

logger = logging.getLogger(__name__)

# Each migration runs once, in order, in one transaction with the record of
# its number; a released migration is never edited, only followed by another.
MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (
        1,
        (
            # `seq` is the rowid: creation order, and the default sort. The
            # document comes last, so that reading the short columns never
            # walks its overflow pages.
            """
            CREATE TABLE resources (
                seq INTEGER PRIMARY KEY,
                tenant TEXT NOT NULL,
                resource_type TEXT NOT NULL,
                id TEXT NOT NULL,
                version INTEGER NOT NULL,
                created TEXT NOT NULL,
                last_modified TEXT NOT NULL,
                user_name_folded TEXT,
                external_id TEXT,
                display_name TEXT,
                display_name_folded TEXT,
                document TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX resources_by_id ON resources (tenant, id)",
            "CREATE INDEX resources_by_type ON resources (tenant, resource_type)",
            """
            CREATE UNIQUE INDEX resources_user_name ON resources
                (tenant, user_name_folded) WHERE resource_type = 'User'
            """,
            """
            CREATE UNIQUE INDEX resources_group_display_name ON resources
                (tenant, display_name_folded) WHERE resource_type = 'Group'
            """,
            """
            CREATE INDEX resources_external_id ON resources
                (tenant, resource_type, external_id) WHERE external_id IS NOT NULL
            """,
            # Deleting a resource deletes the memberships it takes part in,
            # on both ends, through the cascades.
            """
            CREATE TABLE memberships (
                tenant TEXT NOT NULL,
                group_id TEXT NOT NULL,
                member_id TEXT NOT NULL,
                member_type TEXT NOT NULL,
                PRIMARY KEY (tenant, group_id, member_id),
                FOREIGN KEY (tenant, group_id) REFERENCES resources (tenant, id)
                    ON DELETE CASCADE,
                FOREIGN KEY (tenant, member_id) REFERENCES resources (tenant, id)
                    ON DELETE CASCADE
            ) WITHOUT ROWID
            """,
            "CREATE INDEX memberships_by_member ON memberships (tenant, member_id)",
        ),
    ),
    (2, credentials.MIGRATION),
    (3, invitations.MIGRATION),
    (4, emails.MIGRATION),
    # A page reads its ids from this index alone, in creation order; the
    # index it replaces held the same entries without the id.
    (
        5,
        (
            "CREATE INDEX resources_in_order ON resources"
            " (tenant, resource_type, seq, id)",
            "DROP INDEX resources_by_type",
        ),
    ),
    # A number that every write of a resource raises, so that readers keep
    # what they derived from resources across commits that wrote only
    # invitations, the outbox or tokens (`sqlite_pages.PageCache`). A change
    # of members always raises its group's version too (`sqlite_writes`), and
    # so this number.
    (
        6,
        (
            "CREATE TABLE resource_changes (n INTEGER NOT NULL)",
            "INSERT INTO resource_changes (n) VALUES (0)",
            *(
                f"CREATE TRIGGER resources_changed_on_{event} AFTER {event}"
                " ON resources BEGIN UPDATE resource_changes SET n = n + 1; END"
                for event in ("insert", "update", "delete")
            ),
        ),
    ),
]


def configure(connection: sqlite3.Connection, *, busy_timeout: float) -> None:
    """Per-connection settings and the SQL functions the compiled filters call."""
    connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    connection.execute("PRAGMA foreign_keys = ON")
    # WAL lets readers run beside the writer; NORMAL is durable in WAL mode
    # except for the last transactions before a power loss.
    connection.execute("PRAGMA synchronous = NORMAL")
    for name, arity, function in _FUNCTIONS:
        connection.create_function(name, arity, function, deterministic=True)


# Pages the WAL may hold before a commit copies them back into the database
# (SQLite's default is 1,000). A new user touches some eight pages, most of
# them the same index pages again and again; copying back ten times less
# often copies each hot page ten times less, about a tenth of a create's CPU.
WAL_CHECKPOINT_PAGES = 10_000
# A WAL that grew past this is cut back to it after a checkpoint.
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def enable_wal(connection: sqlite3.Connection, *, checkpoints: bool = True) -> None:
    """WAL mode, on the writer's connection; it checkpoints only if asked."""
    mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        logger.warning("sqlite.journal_mode mode=%s", mode)
    pages = WAL_CHECKPOINT_PAGES if checkpoints else 0
    connection.execute(f"PRAGMA wal_autocheckpoint = {pages}")
    connection.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")


def apply_migrations(connection: sqlite3.Connection) -> list[int]:
    """Apply the migrations not yet recorded; returns the numbers applied.

    The check is repeated inside one immediate transaction with the changes,
    so processes opening one file together apply each migration once; a file
    that is up to date is only read.
    """
    if not _pending(connection):
        return []
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (number INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
    )
    connection.execute("BEGIN IMMEDIATE")
    try:
        applied = [_apply(connection, n, s) for n, s in _pending(connection)]
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return applied


def _pending(connection: sqlite3.Connection) -> list[tuple[int, tuple[str, ...]]]:
    has_table = connection.execute(
        "SELECT 1 FROM sqlite_master"
        " WHERE type = 'table' AND name = 'schema_migrations'"
    ).fetchone()
    done: set[int] = set()
    if has_table:
        rows = connection.execute("SELECT number FROM schema_migrations")
        done = {row[0] for row in rows}
    return [(number, body) for number, body in MIGRATIONS if number not in done]


def _apply(
    connection: sqlite3.Connection, number: int, statements: tuple[str, ...]
) -> int:
    try:
        for statement in statements:
            connection.execute(statement)
    except sqlite3.Error as exc:
        logger.exception("sqlite.migration_failed number=%s", number)
        raise UnavailableError(f"SQLite migration {number} failed: {exc}") from exc
    connection.execute(
        "INSERT INTO schema_migrations (number, applied) VALUES (?, ?)",
        (number, datetime.now(UTC).isoformat()),
    )
    return number


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _instant(value: object) -> str | None:
    return normalize_instant(value) if isinstance(value, str) else None


def _present(kind: str | None, value: object) -> bool:
    """RFC 7644 §3.4.2.2 `pr`, from `json_type` and `json_extract` of one member."""
    if kind is None or kind == "null":
        return False
    if kind == "text":
        return value != ""
    if kind == "array":
        return value != "[]"
    if kind == "object":
        return value != "{}"
    return True


_FUNCTIONS = (
    ("scim_lower", 1, fold),
    ("scim_text", 1, _text),
    ("scim_instant", 1, _instant),
    ("scim_present", 2, _present),
)
