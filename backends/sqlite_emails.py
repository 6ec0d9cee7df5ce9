"""The side table of e-mail values that turns `emails` lookups into index searches.

SQLite cannot index values inside a JSON array, so a filter such as
`emails[type eq "work"].value eq "x"` would read every user's document. The
table `email_values` holds, for every resource, the folded `value` of each
element of its `emails` array that is an object, written in the transaction
that writes the document (docs/backends.md).

The table only narrows the search: a compiled filter keeps its full test on
the document and adds `r.seq IN (the rows holding the folded value)`, which
that test implies. Each stored value is the very expression the compiled
test compares (`scim_lower` of `json_extract` over the elements `json_each`
yields), so the narrowing never drops a match, whatever the attribute's
caseExact, the element's other keys, or a `not` around the test.
"""

from __future__ import annotations

import sqlite3

__all__ = ["INDEXED_ATTRIBUTE", "MIGRATION", "index_emails", "narrowing"]

INDEXED_ATTRIBUTE = "emails"

_VALUE = "scim_lower(json_extract(e.value, '$.\"value\"'))"
_ELEMENTS = f"e.type = 'object' AND {_VALUE} IS NOT NULL"

# Applied after the invitation tables (see sqlite_schema.MIGRATIONS); the
# last statement fills the table for the resources already stored.
MIGRATION: tuple[str, ...] = (
    """
    CREATE TABLE email_values (
        value_folded TEXT NOT NULL,
        seq INTEGER NOT NULL REFERENCES resources (seq) ON DELETE CASCADE,
        PRIMARY KEY (value_folded, seq)
    ) WITHOUT ROWID
    """,
    "CREATE INDEX email_values_by_seq ON email_values (seq)",
    "INSERT OR IGNORE INTO email_values (value_folded, seq)"
    f" SELECT {_VALUE}, r.seq FROM resources AS r,"
    f" json_each(r.document, '$.\"{INDEXED_ATTRIBUTE}\"') AS e WHERE {_ELEMENTS}",
)


def index_emails(
    connection: sqlite3.Connection, seq: int, document: str, *, is_new: bool
) -> None:
    """Write the e-mail values of the resource `seq` whose JSON is `document`."""
    if not is_new:
        connection.execute("DELETE FROM email_values WHERE seq = ?", (seq,))
    connection.execute(
        "INSERT OR IGNORE INTO email_values (value_folded, seq)"
        f" SELECT {_VALUE}, ? FROM json_each(?, '$.\"{INDEXED_ATTRIBUTE}\"') AS e"
        f" WHERE {_ELEMENTS}",
        (seq, document),
    )


def narrowing(placeholder: str) -> str:
    """A predicate: the row has an e-mail whose folded value is the parameter."""
    return (
        "r.seq IN (SELECT v.seq FROM email_values AS v"
        f" WHERE v.value_folded = {placeholder})"
    )
