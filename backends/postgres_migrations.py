"""Numbered schema migrations of the Postgres backend, applied at start-up.

Each migration runs once per schema, recorded in `schema_migrations`. All of
them run in one transaction that first takes a transaction-scoped advisory lock
keyed by the schema, so several gateway processes starting at once apply each
migration exactly once: the others wait for the lock, then find nothing to do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from scim_gateway.backends import postgres_credentials as credentials
from scim_gateway.backends import postgres_invitations as invitations

__all__ = ["MIGRATIONS", "Migration", "migrate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


_TABLES = """
CREATE TABLE resources (
    tenant text NOT NULL,
    resource_type text NOT NULL,
    id text COLLATE "C" NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    document jsonb NOT NULL,
    user_name_folded text COLLATE "C",
    external_id text COLLATE "C",
    display_name text,
    display_name_folded text COLLATE "C",
    created timestamptz NOT NULL,
    last_modified timestamptz NOT NULL,
    version integer NOT NULL,
    PRIMARY KEY (tenant, id)
);

-- Uniqueness is the database's job (RFC 7643 §4.1 userName, §4.2 displayName
-- by this gateway's choice): a unique index cannot be raced past. Client
-- strings are indexed by their md5, since a B-tree entry holds at most about
-- 2,700 bytes and the gateway accepts longer strings; lookups compare the md5
-- (index) and then the value itself.
CREATE UNIQUE INDEX resources_user_name_key
    ON resources (tenant, md5(user_name_folded)) WHERE resource_type = 'User';
CREATE UNIQUE INDEX resources_group_display_name_key
    ON resources (tenant, md5(display_name_folded)) WHERE resource_type = 'Group';
CREATE INDEX resources_user_display_name_idx
    ON resources (tenant, md5(display_name_folded)) WHERE resource_type = 'User';
CREATE INDEX resources_external_id_idx
    ON resources (tenant, resource_type, md5(external_id));
-- Lists without sortBy come in creation order.
CREATE INDEX resources_seq_idx ON resources (tenant, resource_type, seq);

-- Members live beside the group so that adding one to a group of 100,000 is
-- one row; the foreign keys delete memberships with either side.
CREATE TABLE memberships (
    tenant text NOT NULL,
    group_id text COLLATE "C" NOT NULL,
    member_id text COLLATE "C" NOT NULL,
    member_type text NOT NULL,
    PRIMARY KEY (tenant, group_id, member_id),
    FOREIGN KEY (tenant, group_id) REFERENCES resources (tenant, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant, member_id) REFERENCES resources (tenant, id) ON DELETE CASCADE
);
CREATE INDEX memberships_member_idx ON memberships (tenant, member_id);
"""

# scim_fold is the case folding of caseExact=false attributes inside the JSON
# document. ICU's lower() is the full Unicode mapping that Python's str.lower()
# applies on the other backends; the database's own lower() follows its
# LC_CTYPE, which under "C" folds ASCII only. Without ICU, lower() it is.
#
# scim_value_keys gives the md5 of each folded `value` of a multi-valued
# attribute, for a GIN index that makes `emails[type eq "work" and value eq
# "x"]` and `emails.value eq "x"` index lookups: the compiler adds
# `scim_value_keys(...) @> ARRAY[md5(scim_fold(x))]`, which the exact predicate
# implies and which still decides. (A jsonb_path_ops index on the array could
# only match values case-sensitively; md5 keeps GIN entries small whatever the
# length of an address.) Both bodies name pg_catalog functions only, since an
# index expression may be evaluated under any search_path.
# The opening of the migrations that write folding functions: `fold` is the
# format of a folded text, ICU's lower() where the server has ICU.
_FOLDING = """
DO $migration$
DECLARE
    fold text := CASE
        WHEN EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')
        THEN 'lower((%s) COLLATE "und-x-icu")'
        ELSE 'lower(%s)'
    END;
BEGIN
"""

_FOLD = (
    _FOLDING
    + """    EXECUTE format(
        'CREATE FUNCTION scim_fold(text) RETURNS text'
        ' LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
        'SELECT ' || format(fold, '$1')
    );
    EXECUTE format(
        'CREATE FUNCTION scim_value_keys(items jsonb) RETURNS text[]'
        ' LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L',
        'SELECT ARRAY(SELECT md5(' || format(fold, 'item->>''value''') || ')'
        || ' FROM jsonb_array_elements(CASE WHEN jsonb_typeof(items) = ''array'''
        || ' THEN items ELSE ''[]''::jsonb END) AS item'
        || ' WHERE jsonb_typeof(item->''value'') = ''string'')'
    );
END
$migration$;

-- A dateTime inside the document as timestamptz, NULL unless it parses;
-- as Python's datetime.fromisoformat, a value without offset is UTC.
CREATE FUNCTION scim_instant(value text) RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT AS $function$
BEGIN
    IF value !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}' THEN
        RETURN NULL;
    END IF;
    IF value ~ ':[0-9]{2}([.,][0-9]+)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN
        RETURN value::timestamptz;
    END IF;
    RETURN value::timestamp AT TIME ZONE 'UTC';
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END
$function$;

CREATE INDEX resources_email_values_idx
    ON resources USING gin (scim_value_keys(document->'emails'))
    WHERE resource_type = 'User';
"""
)

# The number of resources per tenant and type, for the totalResults of an
# unfiltered list: counting 100,000 index entries per page took 20 ms. Kept by
# statement triggers in the same transaction as the rows, so that any snapshot
# sees a total that matches its rows. Each write adds to one of 16 slots per
# tenant and type, chosen by the server process, so that concurrent creates
# in one tenant seldom wait for each other's row lock; a total sums the slots.
# The function keeps the migration's search_path: the schema of its tables.
_COUNTS = """
CREATE TABLE resource_counts (
    tenant text NOT NULL,
    resource_type text NOT NULL,
    slot integer NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (tenant, resource_type, slot)
);

CREATE FUNCTION scim_count_resources() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_counts AS c (tenant, resource_type, slot, n)
        SELECT tenant, resource_type, pg_catalog.pg_backend_pid() % 16, count(*)
        FROM added GROUP BY tenant, resource_type
        ON CONFLICT (tenant, resource_type, slot) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO resource_counts AS c (tenant, resource_type, slot, n)
        SELECT tenant, resource_type, pg_catalog.pg_backend_pid() % 16, -count(*)
        FROM removed GROUP BY tenant, resource_type
        ON CONFLICT (tenant, resource_type, slot) DO UPDATE SET n = c.n + excluded.n;
    END IF;
    RETURN NULL;
END
$function$;

-- The trigger's lock on resources waits for writes in flight and holds new
-- ones until this migration commits, so the counts below miss none.
CREATE TRIGGER resources_counted_on_insert AFTER INSERT ON resources
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION scim_count_resources();
CREATE TRIGGER resources_counted_on_delete AFTER DELETE ON resources
    REFERENCING OLD TABLE AS removed
    FOR EACH STATEMENT EXECUTE FUNCTION scim_count_resources();

INSERT INTO resource_counts (tenant, resource_type, slot, n)
SELECT tenant, resource_type, 0, count(*) FROM resources
GROUP BY tenant, resource_type;
"""

# A GIN index keeps new entries in a pending list, which every search reads
# whole, until a vacuum (or 4 MB of them) merges it into the tree: 10 ms per
# e-mail lookup after 10,000 creates, and more on a server without autovacuum.
# Without it each create updates the tree at once, and a lookup stays a tree
# search whatever was created since the last vacuum.
_EMAIL_INDEX_UPDATES = """
ALTER INDEX resources_email_values_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('resources_email_values_idx'::regclass);
"""

# Removals counted beside the totals. A total and a count of removals that
# both stay the same between two snapshots mean that no resource of that tenant
# and type came or went in between (each only grows, or changes with a row
# that came or went), so that what a process derived from the order of the
# rows, such as the anchors of its pages (`postgres_pages`), still holds.
# That needs the counts never to start over: a trigger keeps their rows from
# being deleted, also by an earlier release deleting a tenant, and a tenant's
# deleted resources leave its rows at zero with their removals.
_REMOVALS = """
ALTER TABLE resource_counts ADD COLUMN removed bigint NOT NULL DEFAULT 0;

CREATE FUNCTION scim_keep_counts() RETURNS trigger
    LANGUAGE plpgsql AS $function$
BEGIN
    RETURN NULL;
END
$function$;

CREATE TRIGGER resource_counts_kept BEFORE DELETE ON resource_counts
    FOR EACH ROW EXECUTE FUNCTION scim_keep_counts();

CREATE OR REPLACE FUNCTION scim_count_resources() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO resource_counts AS c (tenant, resource_type, slot, n)
        SELECT tenant, resource_type, pg_catalog.pg_backend_pid() % 16, count(*)
        FROM added GROUP BY tenant, resource_type
        ON CONFLICT (tenant, resource_type, slot) DO UPDATE SET n = c.n + excluded.n;
    ELSE
        INSERT INTO resource_counts AS c (tenant, resource_type, slot, n, removed)
        SELECT tenant, resource_type, pg_catalog.pg_backend_pid() % 16,
               -count(*), count(*)
        FROM removed GROUP BY tenant, resource_type
        ON CONFLICT (tenant, resource_type, slot)
        DO UPDATE SET n = c.n + excluded.n, removed = c.removed + excluded.removed;
    END IF;
    RETURN NULL;
END
$function$;
"""

# scim_value_keys again, the same keys without a query: the SQL body (a
# subquery over jsonb_array_elements) cannot be inlined, so the server planned
# it on every statement that wrote a user (the index's expression), about 65 us
# of a create's CPU; as a loop of PL/pgSQL expressions it costs about 20 us.
# The index stays valid: each value gives the key it gave before.
_VALUE_KEYS_LOOP = (
    _FOLDING
    + """    EXECUTE format(
        'CREATE OR REPLACE FUNCTION scim_value_keys(items jsonb) RETURNS text[]'
        ' LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS %L',
        'DECLARE keys text[] := ''{}''; value jsonb;'
        ' BEGIN'
        ' IF jsonb_typeof(items) = ''array'' THEN'
        ' FOR i IN 0 .. jsonb_array_length(items) - 1 LOOP'
        ' value := items -> i -> ''value'';'
        ' IF jsonb_typeof(value) = ''string'' THEN'
        ' keys := keys || md5(' || format(fold, 'value #>> ''{}''') || ');'
        ' END IF;'
        ' END LOOP;'
        ' END IF;'
        ' RETURN keys;'
        ' END'
    );
END
$migration$;
"""
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "resources and memberships", _TABLES),
    Migration(2, "SQL functions and the case-folded e-mail index", _FOLD),
    Migration(3, "tenants and token digests", credentials.MIGRATION),
    Migration(4, "invitations and the outbox", invitations.MIGRATION),
    Migration(5, "resource counts per tenant and type", _COUNTS),
    Migration(6, "e-mail index without a pending list", _EMAIL_INDEX_UPDATES),
    Migration(7, "removals counted beside the totals", _REMOVALS),
    Migration(8, "outbox claims as a function", invitations.CLAIM_MIGRATION),
    Migration(9, "e-mail keys without a query", _VALUE_KEYS_LOOP),
)


async def migrate(
    connection: asyncpg.Connection | PoolConnectionProxy, *, schema: str | None
) -> list[int]:
    """Apply the migrations this schema lacks; return the versions applied."""
    async with connection.transaction():
        # Keyed by the schema's name, which need not exist yet.
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended("
            "'scim_gateway.migrations.' || coalesce($1, current_schema()), 0))",
            schema,
        )
        if schema is not None:
            await connection.execute(
                f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}"
            )
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied timestamptz NOT NULL DEFAULT now())"
        )
        rows = await connection.fetch("SELECT version FROM schema_migrations")
        done = {row["version"] for row in rows}
        applied = [m for m in MIGRATIONS if m.version not in done]
        for migration in applied:
            await _apply(connection, migration)

    return [migration.version for migration in applied]


async def _apply(
    connection: asyncpg.Connection | PoolConnectionProxy, migration: Migration
) -> None:
    logger.info(
        "postgres.migrate version=%s name=%s", migration.version, migration.name
    )
    await connection.execute(migration.sql)
    await connection.execute(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
        migration.version,
        migration.name,
    )


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
