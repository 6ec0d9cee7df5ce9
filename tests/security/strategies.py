"""Hypothesis strategies for hostile SCIM requests: valid, nearly valid, broken.

Each strategy mixes three sources: values built from the schemas (so that a
good share of requests succeed and reach storage), the same values mangled
(wrong case, wrong type, cut short, extremes), and raw noise. `{user}` and
`{group}` in a generated body stand for the ids of real resources; the
tests fill them in.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from scim_gateway.filters.ast import AttrType
from scim_gateway.schemas import (
    ENTERPRISE_USER,
    GROUP,
    USER,
    Attribute,
    Mutability,
    ResourceType,
    SchemaRegistry,
)

Json = Any
Strategy = st.SearchStrategy

REGISTRY = SchemaRegistry()
USERS = REGISTRY.resource_type("User")
GROUPS = REGISTRY.resource_type("Group")
RESOURCE_TYPES = {"Users": USERS, "Groups": GROUPS}
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# Query strings cannot carry lone surrogates; JSON bodies can (as \ud800).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
# What real clients send in attribute values: any text a store can hold.
CLEAN_TEXT = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=30
)
ANY_TEXT = st.text(max_size=30)
PLACEHOLDERS = st.sampled_from(["{user}", "{group}"])

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
SMALL = st.integers(min_value=-1000, max_value=1000)
numbers = st.one_of(
    SMALL, SMALL, INT64, st.floats(allow_nan=False, allow_infinity=False)
)
# Values at or past what a store holds: 64-bit bounds, huge strings.
extremes: Strategy[Json] = st.one_of(
    st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**30, 1e308, "\x00"]),
    st.integers(65_000, 70_000).map(lambda size: "x" * size),
)
_usual: Strategy[Json] = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    ANY_TEXT,
    st.sampled_from(["True", "False", "", "2024-01-02T03:04:05Z", "work"]),
)
scalars: Strategy[Json] = st.one_of(*[_usual] * 6, extremes)


def _attribute_paths(resource_type: ResourceType) -> list[str]:
    paths: list[str] = []
    for schema in resource_type.schemas:
        prefix = "" if schema is resource_type.schema else f"{schema.id}:"
        for attribute in schema.attributes:
            paths.append(prefix + attribute.name)
            paths.extend(
                f"{prefix}{attribute.name}.{sub.name}"
                for sub in attribute.sub_attributes
            )
    return paths + ["meta.lastModified", "meta.created"]


KNOWN_PATHS = sorted(set(_attribute_paths(USERS) + _attribute_paths(GROUPS)))
MULTI_VALUED = sorted(
    a.name
    for rt in RESOURCE_TYPES.values()
    for a in rt.schema.attributes
    if a.multi_valued and a.type is AttrType.COMPLEX
)
OPERATORS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "EQ", "xx"]

attribute_names: Strategy[str] = st.one_of(
    st.sampled_from(KNOWN_PATHS),
    st.sampled_from(KNOWN_PATHS).map(str.upper),
    st.sampled_from(KNOWN_PATHS).map(lambda name: name[: len(name) // 2]),
    st.sampled_from([USER, GROUP, ENTERPRISE_USER, "urn:x:y", "schemas", "$ref"]),
    TEXT,
)

json_values: Strategy[Json] = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(attribute_names, children, max_size=3),
    ),
    max_leaves=8,
)


# Values of the right type for an attribute, most of the time.


def _scalar_for(attribute: Attribute) -> Strategy[Json]:
    if attribute.name in ("value", "$ref") and attribute.reference_types:
        return PLACEHOLDERS
    if attribute.type is AttrType.BOOLEAN:
        return st.one_of(st.booleans(), st.sampled_from(["True", "false"]))
    if attribute.type is AttrType.DATETIME:
        return st.datetimes().map(lambda moment: moment.isoformat() + "Z")
    if attribute.canonical_values:
        return st.sampled_from(attribute.canonical_values) | CLEAN_TEXT
    return CLEAN_TEXT


def value_for(attribute: Attribute) -> Strategy[Json]:
    """A value for `attribute`: usually well typed, sometimes anything."""
    if attribute.type is AttrType.COMPLEX:
        subs = {sub.name: _scalar_for(sub) for sub in attribute.sub_attributes}
        single: Strategy[Json] = st.fixed_dictionaries({}, optional=subs)
    else:
        single = _scalar_for(attribute)
    typed = st.lists(single, max_size=3) if attribute.multi_valued else single
    if attribute.name == "members":
        typed = st.lists(st.fixed_dictionaries({"value": PLACEHOLDERS}), max_size=3)
    return st.one_of(*[typed] * 8, json_values)


def _writable(resource_type: ResourceType) -> dict[str, Strategy[Json]]:
    fields: dict[str, Strategy[Json]] = {}
    for schema in resource_type.schemas:
        extension: dict[str, Strategy[Json]] = {}
        for attribute in schema.attributes:
            if attribute.mutability is Mutability.READ_ONLY:
                continue
            if attribute.name in ("schemas", "userName", "displayName"):
                continue
            extension[attribute.name] = value_for(attribute)
        if schema is resource_type.schema:
            fields.update(extension)
        else:
            fields[schema.id] = st.fixed_dictionaries({}, optional=extension)
    return fields


def _unique_name() -> Strategy[str]:
    return st.tuples(CLEAN_TEXT, st.uuids()).map(lambda p: f"{p[0]}.{p[1].hex[:8]}")


def plausible_resource(resource: str) -> Strategy[dict[str, Json]]:
    """A body that a real client could send: required fields, typed attributes."""
    resource_type = RESOURCE_TYPES[resource]
    name = "userName" if resource == "Users" else "displayName"
    schemas = [s.id for s in resource_type.schemas]
    return st.fixed_dictionaries(
        {"schemas": st.just(schemas), name: _unique_name()},
        optional=_writable(resource_type),
    )


def _mangled(body: Strategy[dict[str, Json]]) -> Strategy[dict[str, Json]]:
    """A plausible body with one key changed in case, or given any value."""

    def mangle(parts: tuple[dict[str, Json], int, Json, bool]) -> dict[str, Json]:
        document, index, value, is_recase = parts
        if not document:
            return document
        key = sorted(document)[index % len(document)]
        changed = dict(document)
        if is_recase:
            changed[key.swapcase()] = changed.pop(key)
        else:
            changed[key] = value
        return changed

    return st.tuples(body, st.integers(0, 20), json_values, st.booleans()).map(mangle)


def resource_bodies(resource: str) -> Strategy[Json]:
    plausible = plausible_resource(resource)
    return st.one_of(
        plausible,
        plausible,
        _mangled(plausible),
        st.dictionaries(attribute_names, json_values, max_size=5),
        json_values,
    )


# Filters and paths.


def _literals() -> Strategy[str]:
    return st.one_of(
        TEXT.map(json.dumps),
        st.sampled_from(["true", "false", "null", '"2024-01-02T03:04:05Z"']),
        numbers.map(str),
        st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**30]).map(str),
        st.sampled_from(["1e999", "9" * 40, '"\\ud800"', '"open', "'x'", '"\\u0000"']),
    )


def _comparison(parts: tuple[str, str, str]) -> str:
    path, op, literal = parts
    return f"{path} pr" if op == "pr" else f"{path} {op} {literal}"


_atoms = st.tuples(attribute_names, st.sampled_from(OPERATORS), _literals()).map(
    _comparison
)


def _combine(children: Strategy[str]) -> Strategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(["and", "or", "Or"]), children).map(
            " ".join
        ),
        children.map(lambda inner: f"({inner})"),
        children.map(lambda inner: f"not ({inner})"),
        st.tuples(st.sampled_from(MULTI_VALUED), children).map(
            lambda pair: f"{pair[0]}[{pair[1]}]"
        ),
    )


well_formed_filters = st.recursive(_atoms, _combine, max_leaves=6)
filters: Strategy[str] = st.one_of(
    well_formed_filters,
    well_formed_filters,
    st.tuples(well_formed_filters, st.integers(0, 60), TEXT).map(
        lambda cut: cut[0][: cut[1]] + cut[2]
    ),
    st.integers(1, 3000).map(lambda depth: "(" * depth + "userName pr" + ")" * depth),
    TEXT,
)

patch_paths: Strategy[str] = st.one_of(
    attribute_names,
    st.tuples(st.sampled_from(MULTI_VALUED), well_formed_filters, TEXT).map(
        lambda parts: f"{parts[0]}[{parts[1]}].{parts[2]}"
    ),
    st.sampled_from(
        [
            'members[value eq "{user}"]',
            'members[display eq "x"]',
            'emails[type eq "work"].value',
            'emails[type eq "work" and primary eq true]',
            f"{ENTERPRISE_USER}:manager",
            'manager[value eq "{user}"]',
        ]
    ),
)


def _typed_operation(resource: str) -> Strategy[dict[str, Json]]:
    """An operation on one attribute of the type, with a value for it."""
    resource_type = RESOURCE_TYPES[resource]
    choices = [
        (prefix + attribute.name, attribute)
        for schema in resource_type.schemas
        for prefix in ["" if schema is resource_type.schema else f"{schema.id}:"]
        for attribute in schema.attributes
    ]

    def operation(parts: tuple[str, tuple[str, Attribute], Json]) -> dict[str, Json]:
        op, (path, _), value = parts
        return {"op": op, "path": path, "value": value}

    return st.sampled_from(choices).flatmap(
        lambda choice: st.tuples(
            st.sampled_from(["add", "replace", "remove", "Replace", "Add"]),
            st.just(choice),
            value_for(choice[1]),
        ).map(operation)
    )


def _loose_operation() -> Strategy[dict[str, Json]]:
    return st.fixed_dictionaries(
        {"op": st.sampled_from(["add", "remove", "replace", "Replace", "x"])},
        optional={
            "path": st.one_of(patch_paths, scalars),
            "value": json_values,
        },
    )


def patch_bodies(resource: str) -> Strategy[Json]:
    any_operation = st.one_of(
        _typed_operation(resource),
        _typed_operation(resource),
        _loose_operation(),
        plausible_resource(resource).map(lambda v: {"op": "replace", "value": v}),
    )
    request = st.fixed_dictionaries(
        {
            "schemas": st.sampled_from([[PATCH_OP]] * 8 + [[], ["x"]]),
            "Operations": st.lists(any_operation, max_size=4),
        }
    )
    return st.one_of(request, request, request, json_values)


# Queries.

query_values: Strategy[str] = st.one_of(
    TEXT,
    filters,
    numbers.map(str),
    st.integers().map(str),
    st.sampled_from(["ascending", "descending", "userName", "emails.value", "-1"]),
)
QUERY_KEYS = [
    "filter",
    "sortBy",
    "sortOrder",
    "startIndex",
    "count",
    "attributes",
    "excludedAttributes",
    "x",
]
query_strings: Strategy[dict[str, str]] = st.dictionaries(
    st.sampled_from(QUERY_KEYS), query_values, max_size=4
)
search_bodies: Strategy[Json] = st.one_of(
    st.dictionaries(
        st.sampled_from([*QUERY_KEYS, "schemas"]),
        st.one_of(query_values, json_values),
        max_size=4,
    ),
    json_values,
)

# Raw bytes.

raw_bodies: Strategy[bytes] = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: json.dumps(value).encode()[:-1]),
    st.sampled_from(
        [
            b"",
            b"null",
            b'{"a": 1, "a": 2}',
            b'{"a": NaN}',
            b'{"userName": "\xff"}',
            b"[" * 5000 + b"]" * 5000,
            b'{"userName": 1e400}',
            b'\xef\xbb\xbf{"userName": "bom"}',
        ]
    ),
)
content_types: Strategy[str] = st.sampled_from(
    [
        "application/scim+json",
        "application/json",
        "application/scim+json; charset=utf-8",
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "",
    ]
)
