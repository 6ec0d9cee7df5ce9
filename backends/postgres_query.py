"""Compilation of filter ASTs, sorting and paging to parameterised PostgreSQL.

The logic is the Python evaluator's two-valued one: an absent attribute makes
a comparison false, `ne` is the negation of `eq` (true when the attribute is
absent), and a value of the wrong type compares false instead of raising a cast
error (each cast is guarded by `jsonb_typeof` inside a CASE, whose evaluation
order PostgreSQL guarantees). A comparison with an absent value may be NULL,
which AND, OR and WHERE treat as false; only NOT would not, so every negation
is `NOT COALESCE(x, false)`. Leaves stay bare so that indexes apply to them.

Case-insensitive strings are folded on both sides: the folded columns hold
Python's `str.lower()` and are compared with Python-lowered parameters, and
JSON values go through `scim_fold()` (ICU `lower()`, the same full Unicode
mapping as `str.lower()`; see the migrations). Ordering comparisons and sorts
use the "C" collation, which is code point order, as in Python.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from scim_gateway.backends.base import GROUP, USER, Query
from scim_gateway.backends.postgres_operands import (
    Absent,
    ComplexElement,
    JsonValue,
    Operand,
    Params,
    TextColumn,
    TimeColumn,
    quote,
)
from scim_gateway.filters.ast import (
    And,
    AttrPath,
    AttrType,
    Compare,
    CompareOp,
    Expr,
    Not,
    Or,
    Present,
    Value,
    ValuePath,
)

__all__ = [
    "COLUMNS",
    "GROUPS_COLUMNS",
    "GROUPS_JOIN",
    "MEMBERS_COLUMNS",
    "MEMBERS_JOIN",
    "Params",
    "anchored_page_sql",
    "compile_filter",
    "count_sql",
    "page_keys_sql",
    "page_sql",
    "walk_sql",
]

# Users read with their groups: the most groups a tenant may have for pages
# to tell whether any of them changed (`_prints`).
MAX_PRINTED_GROUPS = 1000

# The columns every read selects; `postgres_rows.to_resource` decodes them.
COLUMNS = "r.id, r.resource_type, r.document, r.version, r.created, r.last_modified"

# A read with members or groups (a GET, a page) adds one LATERAL aggregate per
# resource, so that it is still one statement. Members and groups come ordered
# by id, as on other backends; a member's display is its displayName, or a
# user's userName.
MEMBERS_COLUMNS = "mem.member_ids, mem.member_types, mem.member_displays"
MEMBERS_JOIN = """
LEFT JOIN LATERAL (
    SELECT array_agg(m.member_id ORDER BY m.member_id) AS member_ids,
           array_agg(m.member_type ORDER BY m.member_id) AS member_types,
           array_agg(COALESCE(x.display_name, x.document->>'userName')
                     ORDER BY m.member_id) AS member_displays
    FROM memberships m
    JOIN resources x ON x.tenant = m.tenant AND x.id = m.member_id
    WHERE m.tenant = r.tenant AND m.group_id = r.id
) mem ON true"""

GROUPS_COLUMNS = "grp.group_ids, grp.group_displays"
GROUPS_JOIN = """
LEFT JOIN LATERAL (
    SELECT array_agg(g.id ORDER BY g.id) AS group_ids,
           array_agg(g.display_name ORDER BY g.id) AS group_displays
    FROM memberships m
    JOIN resources g ON g.tenant = m.tenant AND g.id = m.group_id
    WHERE m.tenant = r.tenant AND m.member_id = r.id
) grp ON true"""


# Multi-valued attributes whose folded `value`s have a GIN expression index
# (migration 2); an equality on their value adds an index-usable prefilter.
VALUE_INDEXED = frozenset({"emails"})


def _elements(jsonb: str) -> str:
    """The elements of a JSON array; any other non-null value is its one element."""
    return (
        f"jsonb_array_elements(CASE WHEN jsonb_typeof({jsonb}) = 'array' THEN {jsonb}"
        f" WHEN jsonb_typeof({jsonb}) <> 'null' THEN jsonb_build_array({jsonb})"
        " ELSE '[]'::jsonb END)"
    )


Build = Callable[[Operand], str]


class Scope(ABC):
    """Where paths are resolved: the resource row, an array element, a membership."""

    @abstractmethod
    def leaf(self, path: AttrPath, build: Build) -> str:
        """Apply `build` to what `path` points at, under EXISTS if multi-valued."""

    @abstractmethod
    def inner(self, attr: AttrPath, build: Callable[[Scope], str]) -> str:
        """`attr[filter]`: some element of `attr` satisfies `build(element scope)`."""


class _Aliases:
    """Fresh aliases for nested subqueries within one statement."""

    def __init__(self) -> None:
        self._count = 0

    def next(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"


@dataclass
class RootScope(Scope):
    """Paths of the resource row `r`: real columns first, then the JSON document."""

    resource_type: str
    aliases: _Aliases = field(default_factory=_Aliases)

    def leaf(self, path: AttrPath, build: Build) -> str:
        column = self._column(path)
        if column is not None:
            return build(column)
        membership = self._membership(path)
        if membership is not None:
            scope = MembershipScope(membership, self.aliases)
            return scope.exists(build(scope.operand(path.sub or "value")))
        return self._json_leaf(path, build)

    def inner(self, attr: AttrPath, build: Callable[[Scope], str]) -> str:
        membership = self._membership(attr)
        if membership is not None:
            scope = MembershipScope(membership, self.aliases)
            return scope.exists(build(scope))
        alias = self.aliases.next("e")
        predicate = build(ElementScope(alias))
        source = _elements(self._json(attr, with_sub=False))
        # Only objects are elements a value filter can select, even under NOT.
        return (
            f"EXISTS (SELECT 1 FROM {source} AS {alias}"
            f" WHERE jsonb_typeof({alias}) = 'object' AND {predicate})"
        )

    def sort_key(self, path: AttrPath) -> str:
        column = self._column(path)
        if column is not None:
            return column.sort_key()
        if self._membership(path) is not None:
            return "NULL"
        if not path.multi_valued:
            return self._json_value(path).sort_key()
        return self._first_element_key(path)

    def _first_element_key(self, path: AttrPath) -> str:
        # RFC 7644 §3.4.2.3 leaves multi-valued sorting to the provider: the
        # primary element's value, else the first element's.
        alias = self.aliases.next("s")
        source = _elements(self._json(path, with_sub=False))
        key = self._element_operand(path, f"{alias}.v").sort_key()
        return (
            f"(SELECT {key} FROM {source} WITH ORDINALITY AS {alias}(v, n)"
            f" ORDER BY ({alias}.v->'primary' = 'true'::jsonb) DESC NULLS LAST,"
            f" {alias}.n LIMIT 1)"
        )

    def _column(self, path: AttrPath) -> Operand | None:
        if path.uri is not None:
            return None
        if path.sub is None:
            return _TOP_COLUMNS.get((self.resource_type, path.name))
        if path.name == "meta":
            return _META_COLUMNS.get(path.sub, Absent())
        return None

    def _membership(self, path: AttrPath) -> str | None:
        if path.uri is not None:
            return None
        if self.resource_type == GROUP and path.name == "members":
            return "members"
        if self.resource_type == USER and path.name == "groups":
            return "groups"
        return None

    def _json_leaf(self, path: AttrPath, build: Build) -> str:
        if not path.multi_valued:
            return build(self._json_value(path))
        alias = self.aliases.next("e")
        source = _elements(self._json(path, with_sub=False))
        predicate = build(self._element_operand(path, alias))
        return f"EXISTS (SELECT 1 FROM {source} AS {alias} WHERE {predicate})"

    def _element_operand(self, path: AttrPath, alias: str) -> Operand:
        if path.sub is not None:
            return JsonValue(f"{alias}->{quote(path.sub)}", path.type, path.case_exact)
        if path.type is AttrType.COMPLEX:
            return ComplexElement(alias, path.case_exact)
        return JsonValue(alias, path.type, path.case_exact)

    def _json_value(self, path: AttrPath) -> JsonValue:
        return JsonValue(self._json(path, with_sub=True), path.type, path.case_exact)

    def _json(self, path: AttrPath, *, with_sub: bool) -> str:
        keys = [path.uri] if path.uri is not None else []
        keys.append(path.name)
        if with_sub and path.sub is not None:
            keys.append(path.sub)
        return "r.document" + "".join(f"->{quote(key)}" for key in keys)


# Columns kept beside the document (DESIGN.md "Storage shape"); the folded ones
# hold str.lower() of the attribute, which is how caseExact=false compares.
_TOP_COLUMNS: dict[tuple[str, str], Operand] = {
    (USER, "id"): TextColumn("r.id"),
    (GROUP, "id"): TextColumn("r.id"),
    (USER, "userName"): TextColumn("r.user_name_folded", folded=True, hashed=True),
    (USER, "externalId"): TextColumn("r.external_id", hashed=True),
    (GROUP, "externalId"): TextColumn("r.external_id", hashed=True),
    (USER, "displayName"): TextColumn("r.display_name_folded", True, True),
    (GROUP, "displayName"): TextColumn("r.display_name_folded", True, True),
}
_META_COLUMNS: dict[str, Operand] = {
    "created": TimeColumn("r.created"),
    "lastModified": TimeColumn("r.last_modified"),
    "resourceType": TextColumn("r.resource_type"),
}


@dataclass(frozen=True)
class ElementScope(Scope):
    """Inside `attr[filter]` on a JSON array: paths name an element's sub-attributes."""

    alias: str

    def leaf(self, path: AttrPath, build: Build) -> str:
        expr = f"{self.alias}->{quote(path.name)}"
        if path.sub is not None:
            expr += f"->{quote(path.sub)}"
        return build(JsonValue(expr, path.type, path.case_exact))

    def inner(self, attr: AttrPath, build: Callable[[Scope], str]) -> str:
        # RFC 7644 §3.4.2.2 grammar has no value path inside a value path.
        return "false"


class MembershipScope(Scope):
    """Paths under `members` (of a group) or `groups` (of a user): membership rows."""

    def __init__(self, kind: str, aliases: _Aliases) -> None:
        self.kind = kind
        self.alias = aliases.next("m")

    def exists(self, predicate: str) -> str:
        m = self.alias
        own = "group_id" if self.kind == "members" else "member_id"
        return (
            f"EXISTS (SELECT 1 FROM memberships {m} WHERE {m}.tenant = r.tenant"
            f" AND {m}.{own} = r.id AND {predicate})"
        )

    def operand(self, sub: str) -> Operand:
        m = self.alias
        other = "member_id" if self.kind == "members" else "group_id"
        if sub == "value":
            return TextColumn(f"{m}.{other}")
        if sub == "display":
            display = "COALESCE(x.display_name_folded, x.user_name_folded)"
            return TextColumn(
                f"(SELECT {display} FROM resources x"
                f" WHERE x.tenant = {m}.tenant AND x.id = {m}.{other})",
                folded=True,
            )
        if sub == "type":
            kind = f"lower({m}.member_type)" if self.kind == "members" else "'direct'"
            return TextColumn(kind, folded=True)
        return Absent()

    def leaf(self, path: AttrPath, build: Build) -> str:
        return build(self.operand(path.name))

    def inner(self, attr: AttrPath, build: Callable[[Scope], str]) -> str:
        return "false"


class _Compiler:
    def __init__(self, params: Params) -> None:
        self.params = params

    def compile(self, expr: Expr, scope: Scope) -> str:
        match expr:
            case And(left, right):
                return f"({self.compile(left, scope)} AND {self.compile(right, scope)})"
            case Or(left, right):
                return f"({self.compile(left, scope)} OR {self.compile(right, scope)})"
            case Not(inner):
                return _negate(self.compile(inner, scope))
            case Present(path):
                return scope.leaf(path, lambda operand: operand.present())
            case Compare(path, op, None):
                # The parser rewrites `eq null` to `not pr` and `ne null` to `pr`;
                # a hand-built AST means the same.
                present = scope.leaf(path, lambda operand: operand.present())
                return {CompareOp.EQ: _negate(present), CompareOp.NE: present}.get(
                    op, "false"
                )
            case Compare(path, CompareOp.NE, value):
                return _negate(self._compare(path, CompareOp.EQ, value, scope))
            case Compare(path, op, value):
                return self._compare(path, op, value, scope)
            case ValuePath(attr, inner):
                exists = scope.inner(attr, lambda element: self.compile(inner, element))
                return self._with_prefilter(attr, _indexed_value(inner), exists, scope)
        raise TypeError(f"not a filter expression: {expr!r}")

    def _compare(
        self, path: AttrPath, op: CompareOp, value: Value, scope: Scope
    ) -> str:
        if isinstance(value, str) and "\x00" in value:
            # PostgreSQL text cannot hold NUL, so no stored value contains one.
            return "false"
        sql = scope.leaf(path, lambda operand: operand.compare(op, value, self.params))
        if path.sub != "value" or op is not CompareOp.EQ or not isinstance(value, str):
            return sql
        return self._with_prefilter(path, value, sql, scope)

    def _with_prefilter(
        self, attr: AttrPath, value: str | None, sql: str, scope: Scope
    ) -> str:
        """Add an index-usable condition that `sql` implies (migration 2)."""
        if value is None or "\x00" in value or not isinstance(scope, RootScope):
            return sql
        if attr.uri is not None or attr.name not in VALUE_INDEXED:
            return sql
        bound = self.params.bind(value, "text")
        column = f"r.document->{quote(attr.name)}"
        return (
            f"(scim_value_keys({column}) @> ARRAY[md5(scim_fold({bound}))] AND {sql})"
        )


def _negate(predicate: str) -> str:
    return f"(NOT COALESCE({predicate}, false))"


def _indexed_value(expr: Expr) -> str | None:
    """The string that `value eq` requires among the top-level conjuncts, if any."""
    for conjunct in _conjuncts(expr):
        match conjunct:
            case Compare(
                AttrPath(name="value", sub=None), CompareOp.EQ, str() as value
            ):
                return value
    return None


def _conjuncts(expr: Expr) -> Iterator[Expr]:
    if isinstance(expr, And):
        yield from _conjuncts(expr.left)
        yield from _conjuncts(expr.right)
    else:
        yield expr


def compile_filter(expr: Expr, resource_type: str, params: Params) -> str:
    """The SQL boolean for `expr` over rows `r` of `resource_type`."""
    return _Compiler(params).compile(expr, RootScope(resource_type))


def _kind(resource_type: str) -> str:
    """The rows of the tenant (`$1`) and resource type."""
    return f"r.tenant = $1 AND r.resource_type = {quote(resource_type)}"


def _where(resource_type: str, query: Query, params: Params) -> str:
    where = _kind(resource_type)
    if query.filter is None:
        return where
    return f"{where} AND {compile_filter(query.filter, resource_type, params)}"


def _order_by(resource_type: str, query: Query) -> tuple[str, str]:
    """The sort key (None without sortBy) and the direction it sorts in."""
    if query.sort is None:
        return "NULL", ""
    key = RootScope(resource_type).sort_key(query.sort.path)
    # Missing values sort last ascending and first descending (RFC 7644
    # §3.4.2.3); creation order breaks ties so pages never repeat or skip.
    direction = "DESC NULLS FIRST" if query.sort.descending else "ASC NULLS LAST"
    return key, direction


def _joins(resource_type: str, query: Query) -> tuple[str, str]:
    """The columns and LATERAL joins of the members or groups the query reads."""
    if query.with_members and resource_type == GROUP:
        return f", {MEMBERS_COLUMNS}", MEMBERS_JOIN
    if query.with_groups and resource_type == USER:
        return f", {GROUPS_COLUMNS}", GROUPS_JOIN
    return "", ""


def page_sql(
    tenant: str, resource_type: str, query: Query, *, census: bool = False
) -> tuple[str, list[object]]:
    """One page, the total of all matches, and the page's members or groups, in
    one statement.

    The total is an uncorrelated subquery (run once, same snapshot; read from
    `resource_counts` without a filter); when the
    page is empty the caller asks `count_sql` instead. A page from the middle
    of the creation order skips its `startIndex - 1` rows on the index of
    `seq` alone (no row is read for them), then reads its own rows. Members
    and groups are aggregated for the page's rows only, after LIMIT and
    OFFSET, so the outer query sorts again, by the same key and `seq`.
    With `census` (an unfiltered page, whose total is then the count kept
    per tenant and type), the count of removals comes too (`removed`; see
    `postgres_pages`).
    """
    params = Params([tenant])
    where = _where(resource_type, query, params)
    key, direction = _order_by(resource_type, query)
    window = ""
    if query.count is not None:
        window += f" LIMIT {params.bind(max(query.count, 0), 'bigint')}"
    if query.start_index > 1:
        window += f" OFFSET {params.bind(query.start_index - 1, 'bigint')}"

    columns, joins = _joins(resource_type, query)
    select = f"SELECT {COLUMNS}, ({_total(resource_type, query, where)}) AS total"
    if census:
        select += f", ({_removals(resource_type)}) AS removed"
    if joins:
        select += ", r.tenant, r.seq"
        if query.sort is not None:
            select += f", {key} AS sort_key"
    if query.sort is not None:
        sql = f"{select} FROM resources r WHERE {where}"
        sql += f" ORDER BY {key} {direction}, r.seq{window}"
    elif query.start_index > 1:
        skipped = f"SELECT r.seq FROM resources r WHERE {where} ORDER BY r.seq{window}"
        sql = f"{select} FROM resources r WHERE {_kind(resource_type)}"
        sql += f" AND r.seq = ANY(ARRAY({skipped})) ORDER BY r.seq"
    else:
        sql = f"{select} FROM resources r WHERE {where} ORDER BY r.seq{window}"
    if joins:
        outer = f"r.sort_key {direction}, r.seq" if query.sort is not None else "r.seq"
        sql = f"SELECT r.*{columns} FROM ({sql}) r{joins} ORDER BY {outer}"
    return sql, params.values


def anchored_page_sql(resource_type: str, query: Query) -> str:
    """A page in creation order, unfiltered, that starts at the row whose
    `seq` is `$2` and skips `$4` rows, `$3` rows long, with the census of the
    tenant's resources of that type (`total`, `removed`; see `postgres_pages`)
    and, for users read with their groups, the print of the tenant's groups
    (`group_total`, `group_removed`, `group_versions`), all read in the same
    statement, and so the same snapshot, as the rows."""
    columns, joins = _joins(resource_type, query)
    window = _window(resource_type)
    rows = f"SELECT {COLUMNS}, r.tenant, r.seq FROM resources r WHERE {window}"
    prints, sources = _prints(resource_type, query)
    return f"SELECT r.*{columns}{prints} FROM ({rows}) r{sources}{joins} ORDER BY r.seq"


def page_keys_sql(resource_type: str, query: Query) -> str:
    """What `anchored_page_sql` reads, but only the ids and versions of its
    rows (`ids`, `versions`), and without their groups."""
    rows = (
        f"SELECT r.id, r.version, r.seq FROM resources r WHERE {_window(resource_type)}"
    )
    keys = (
        "SELECT array_agg(p.id ORDER BY p.seq) AS ids,"
        f" array_agg(p.version ORDER BY p.seq) AS versions FROM ({rows}) p"
    )
    prints, sources = _prints(resource_type, query)
    return f"SELECT page.ids, page.versions{prints} FROM ({keys}) page{sources}"


def _window(resource_type: str) -> str:
    return (
        f"{_kind(resource_type)} AND r.seq >= $2"
        " ORDER BY r.seq LIMIT $3::bigint OFFSET $4::bigint"
    )


def _prints(resource_type: str, query: Query) -> tuple[str, str]:
    """The columns and sources of the census and, for users with groups, the
    groups' print."""
    columns = ", census.total, census.removed"
    sources = f" CROSS JOIN ({_census(resource_type)}) census"
    if query.with_groups and resource_type == USER:
        # Every change of a group's members or name raises its version.
        versions = (
            "SELECT coalesce(sum(g.version), 0)::bigint FROM resources g"
            " WHERE g.tenant = $1 AND g.resource_type = 'Group'"
        )
        # Summed only while there are few groups: the sum reads each of them.
        columns += (
            ", groups.total AS group_total, groups.removed AS group_removed,"
            f" CASE WHEN groups.total <= {MAX_PRINTED_GROUPS} THEN ({versions})"
            " END AS group_versions"
        )
        sources += f" CROSS JOIN ({_census(GROUP)}) groups"
    return columns, sources


def walk_sql(resource_type: str) -> str:
    """The census of the tenant's resources of that type and, read in the same
    snapshot, the `seq` of every `$2`-th of them in creation order, from the
    first.

    Each anchor is found from the one before it by skipping on the `seq`
    index, whatever the plan for the tenant's rows as a whole would be.
    """
    kind = _kind(resource_type)
    first = f"SELECT r.seq FROM resources r WHERE {kind} ORDER BY r.seq LIMIT 1"
    step = (
        f"SELECT r.seq FROM resources r WHERE {kind} AND r.seq > a.seq"
        " ORDER BY r.seq OFFSET $2::bigint - 1 LIMIT 1"
    )
    anchors = (
        f"WITH RECURSIVE a(seq) AS (({first}) UNION ALL"
        f" SELECT ({step}) FROM a WHERE a.seq IS NOT NULL)"
        " SELECT a.seq FROM a WHERE a.seq IS NOT NULL ORDER BY a.seq"
    )
    return (
        f"SELECT census.total, census.removed, ARRAY({anchors}) AS seqs"
        f" FROM ({_census(resource_type)}) census"
    )


def _census(resource_type: str) -> str:
    return (
        "SELECT coalesce(sum(c.n), 0)::bigint AS total,"
        " coalesce(sum(c.removed), 0)::bigint AS removed FROM resource_counts c"
        f" WHERE c.tenant = $1 AND c.resource_type = {quote(resource_type)}"
    )


def _removals(resource_type: str) -> str:
    return (
        "SELECT coalesce(sum(c.removed), 0)::bigint FROM resource_counts c"
        f" WHERE c.tenant = $1 AND c.resource_type = {quote(resource_type)}"
    )


def count_sql(
    tenant: str, resource_type: str, query: Query
) -> tuple[str, list[object]]:
    """The number of resources that match the query's filter."""
    params = Params([tenant])
    where = _where(resource_type, query, params)
    return _total(resource_type, query, where), params.values


def _total(resource_type: str, query: Query, where: str) -> str:
    """The number of matches: kept per tenant and type (migration 5) unless the
    query filters, counted otherwise."""
    if query.filter is not None:
        return f"SELECT count(*) FROM resources r WHERE {where}"
    return (
        "SELECT coalesce(sum(c.n), 0)::bigint FROM resource_counts c"
        f" WHERE c.tenant = $1 AND c.resource_type = {quote(resource_type)}"
    )
