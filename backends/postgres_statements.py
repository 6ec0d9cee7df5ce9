"""The fixed statements of the Postgres backend: reads by id, writes, memberships.

Each is built once per resource type and variant, so that asyncpg's statement
cache prepares it once per connection. The resource type is an SQL literal, not
a parameter, so that the planner can use the partial indexes (migration 1).
Every write is one statement: one round trip in the common case. The member-only
change of a PATCH is a function of the schema instead (`postgres_members`).
"""

from __future__ import annotations

from functools import cache

from scim_gateway.backends.base import GROUP, USER
from scim_gateway.backends.postgres_operands import quote
from scim_gateway.backends.postgres_query import (
    COLUMNS,
    GROUPS_COLUMNS,
    GROUPS_JOIN,
    MEMBERS_COLUMNS,
    MEMBERS_JOIN,
)

__all__ = [
    "CREATE",
    "delete_sql",
    "get_sql",
    "members_sql",
    "replace_sql",
    "version_sql",
]


@cache
def get_sql(
    resource_type: str, *, with_members: bool, with_groups: bool, lock: bool
) -> str:
    """One resource by `$1` tenant and `$2` id; `lock` for a transaction's read."""
    columns, joins = [COLUMNS], []
    if with_members and resource_type == GROUP:
        columns.append(MEMBERS_COLUMNS)
        joins.append(MEMBERS_JOIN)
    if with_groups and resource_type == USER:
        columns.append(GROUPS_COLUMNS)
        joins.append(GROUPS_JOIN)
    sql = (
        f"SELECT {', '.join(columns)} FROM resources r{''.join(joins)}"
        f" WHERE r.tenant = $1 AND r.resource_type = {quote(resource_type)}"
        " AND r.id = $2"
    )
    return sql + " FOR UPDATE OF r" if lock else sql


# ON CONFLICT DO NOTHING (any unique index) instead of catching the unique
# violation: a taken userName returns no row and leaves the transaction usable.
# A concurrent insert of the same folded name waits for the other transaction
# and then returns no row, so of many racing creates exactly one succeeds.
CREATE = f"""
INSERT INTO resources AS r (tenant, resource_type, id, document, user_name_folded,
                            external_id, display_name, display_name_folded,
                            created, last_modified, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, statement_timestamp(), statement_timestamp(), 1)
ON CONFLICT DO NOTHING
RETURNING {COLUMNS}"""


@cache
def replace_sql(resource_type: str) -> str:
    """Replace `$2`'s document, if `$3` (expected version) allows and no other
    resource holds its unique name; no row otherwise (see `version_sql`)."""
    column, bound = "display_name_folded", "$8"
    if resource_type == USER:
        column, bound = "user_name_folded", "$5"
    unique = f"md5(o.{column}) = md5({bound}) AND o.{column} = {bound}"
    kind = quote(resource_type)
    return f"""
UPDATE resources r
SET document = $4, user_name_folded = $5, external_id = $6, display_name = $7,
    display_name_folded = $8, version = r.version + 1,
    last_modified = statement_timestamp()
WHERE r.tenant = $1 AND r.resource_type = {kind} AND r.id = $2
  AND ($3::integer IS NULL OR r.version = $3)
  AND NOT EXISTS (SELECT 1 FROM resources o WHERE o.tenant = $1
                  AND o.resource_type = {kind} AND {unique} AND o.id <> $2)
RETURNING {COLUMNS}"""


@cache
def delete_sql(resource_type: str) -> str:
    """Delete `$2` if `$3` allows; a row with its id when it did.

    The memberships go by ON DELETE CASCADE; the groups that lose the resource
    as a member change too, so they get a new version (and ETag).
    """
    return f"""
WITH gone AS (
    DELETE FROM resources r WHERE r.tenant = $1
      AND r.resource_type = {quote(resource_type)} AND r.id = $2
      AND ($3::integer IS NULL OR r.version = $3)
    RETURNING r.id
), touched AS (
    UPDATE resources g
    SET version = g.version + 1, last_modified = statement_timestamp()
    WHERE g.tenant = $1 AND g.resource_type = 'Group' AND g.id IN (
        SELECT m.group_id FROM memberships m JOIN gone ON m.member_id = gone.id
        WHERE m.tenant = $1)
)
SELECT id FROM gone"""


@cache
def version_sql(resource_type: str) -> str:
    """Why a write found no row: the stored version, or no row at all."""
    return (
        f"SELECT version FROM resources WHERE tenant = $1"
        f" AND resource_type = {quote(resource_type)} AND id = $2"
    )


# The group, locked first, so that concurrent changes to one group queue up;
# no row when it does not exist or (`{condition}`) an id to add does not.
_GROUP = """
    SELECT g.id FROM resources g
    WHERE g.tenant = $1 AND g.resource_type = 'Group' AND g.id = $2 AND {condition}
    FOR UPDATE"""
_ALL_FOUND = "(SELECT count(*) FROM found) = cardinality($3::text[])"

# The members that exist in the tenant, of the (distinct) ids in $3.
_FOUND = """
    SELECT x.id, x.resource_type FROM resources x
    WHERE x.tenant = $1 AND x.id = ANY($3::text[])"""

_ADD = """
    INSERT INTO memberships (tenant, group_id, member_id, member_type)
    SELECT $1, grp.id, found.id, found.resource_type FROM grp, found
    ON CONFLICT DO NOTHING
    RETURNING member_id"""

_REMOVE_LISTED = """
    DELETE FROM memberships m USING grp
    WHERE m.tenant = $1 AND m.group_id = grp.id AND m.member_id = ANY($3::text[])
    RETURNING m.member_id"""

_REMOVE_UNLISTED = """
    DELETE FROM memberships m USING grp
    WHERE m.tenant = $1 AND m.group_id = grp.id AND m.member_id <> ALL($3::text[])
    RETURNING m.member_id"""

# A new version only when a membership came or went (`changes`).
_BUMP = """
    UPDATE resources r
    SET version = r.version + 1, last_modified = statement_timestamp()
    FROM grp WHERE r.tenant = $1 AND r.id = grp.id
      AND EXISTS (SELECT 1 FROM changes)"""

_OUTCOME = """
SELECT EXISTS (SELECT 1 FROM grp) AS applied,
       EXISTS (SELECT 1 FROM resources g WHERE g.tenant = $1
               AND g.resource_type = 'Group' AND g.id = $2) AS group_exists,
       ARRAY(SELECT id FROM found) AS found"""


@cache
def members_sql(operation: str) -> str:
    """Add, remove or replace members of group `$2`: ids `$3`, in one statement.

    Unless the group exists and every id to add does too (`found` tells the
    caller which do not), nothing changes and `applied` is false. Otherwise
    the memberships change, and the group's version is bumped if any did.
    """
    condition = "true" if operation == "remove" else _ALL_FOUND
    ctes = [f"found AS ({_FOUND})", f"grp AS ({_GROUP.format(condition=condition)})"]
    changes = []
    if operation in ("remove", "replace"):
        listed = _REMOVE_LISTED if operation == "remove" else _REMOVE_UNLISTED
        ctes.append(f"removed AS ({listed})")
        changes.append("SELECT member_id FROM removed")
    if operation in ("add", "replace"):
        ctes.append(f"added AS ({_ADD})")
        changes.append("SELECT member_id FROM added")
    ctes.append(f"changes AS ({' UNION ALL '.join(changes)})")
    ctes.append(f"bumped AS ({_BUMP})")
    return f"WITH {', '.join(ctes)} {_OUTCOME}"
