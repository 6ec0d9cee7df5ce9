"""Validation and normalisation of resource bodies against the schema registry.

A body from POST or PUT, and the document a PATCH produces, all pass through
`normalize_resource`, so a PATCH can never store what a POST could not. The
result is the storable document: canonical attribute names, extension
attributes nested under their schema URN, values coerced to their types, no
read-only or write-only attribute, no null or empty value, and `schemas`
recomputed from what is present. Group members are returned beside the
document because the backend keeps them beside the group.

`password` (RFC 7643 §4.1.1, writeOnly, returned never) is accepted and
dropped: Okta sends a placeholder on every create, and the gateway stores no
credentials (docs/resources.md).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scim_gateway.coercion import (
    DEFAULT_LIMITS,
    SKIPPED,
    Limits,
    coerce_value,
    json_kind,
)
from scim_gateway.errors import InvalidSyntax, InvalidValue, Mutability, PayloadTooLarge
from scim_gateway.filters.ast import AttrType
from scim_gateway.schemas import Attribute, ResourceType, Schema, SchemaRegistry
from scim_gateway.schemas import Mutability as Mut

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "NormalizedResource",
    "check_immutable",
    "is_members",
    "member_ids",
    "normalize_resource",
]

MEMBERS = "members"


@dataclass(frozen=True)
class NormalizedResource:
    """A validated resource body.

    `document` is what the backend stores. `member_ids` holds a Group's
    member ids in request order without duplicates, or None when the body
    carried no `members`.
    """

    document: dict[str, Any]
    member_ids: list[str] | None = None


def normalize_resource(
    registry: SchemaRegistry,
    resource_type: ResourceType,
    body: object,
    *,
    current: Mapping[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> NormalizedResource:
    """Validate a POST or PUT body and turn it into a storable document.

    Attribute names match in any letter case; read-only attributes (`id`,
    `meta`, `groups`, ...) are ignored; URNs in `schemas` that the resource
    type does not know are ignored, and so are top-level keys under an
    unknown URN namespace (custom Okta namespaces).

    Args:
        current: the stored document when the body replaces it (PUT): an
            immutable attribute may then not change, and keeps its value
            when the body leaves it out (RFC 7644 §3.5.1).

    Raises:
        InvalidSyntax: the body is not a JSON object.
        InvalidValue: an unknown attribute, a value of the wrong type, a
            missing required attribute, a second primary value, a value
            over the limits.
        Mutability: `current` is given and the body changes an immutable
            attribute.
    """
    if not isinstance(body, dict):
        raise InvalidSyntax(
            f"the resource must be a JSON object, not {json_kind(body)}"
        )

    reader = _BodyReader(registry, resource_type, limits)
    for key, value in body.items():
        reader.read(key, value)
    document = reader.document
    if current is not None:
        _keep_immutable(resource_type, document, current)
    _check_required(resource_type, document)
    document = _with_schemas(resource_type, document)

    return NormalizedResource(document, reader.member_ids)


def member_ids(value: object, *, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """The ids in a `members` value, in order, without duplicates.

    Each member is an object whose `value` is the id; its other keys (`$ref`,
    `type`, `display`, and stray ones such as `displayName`) are ignored,
    because Entra sends `"$ref": null` and validators add keys of their own.

    Raises:
        InvalidValue: the value is not a list of member objects.
        PayloadTooLarge: more than `limits.max_members` members.
    """
    if value is None:
        return []
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise InvalidValue(
            f'"members" must be a list of members, not {json_kind(value)}'
        )
    check_member_count(len(items), limits)
    ids: dict[str, None] = {}
    for item in items:
        ids[_member_id(item, limits)] = None
    return list(ids)


def check_member_count(count: int, limits: Limits) -> None:
    """Refuse a request naming more members than one request may change.

    Raises:
        PayloadTooLarge: naming the count and the limit.
    """
    if count > limits.max_members:
        raise PayloadTooLarge(
            f"the request names {count} members; at most {limits.max_members} "
            "are allowed in one request"
        )


def check_immutable(
    resource_type: ResourceType, document: Mapping[str, Any], current: Mapping[str, Any]
) -> None:
    """Refuse a document that changes an immutable value of `current`.

    Raises:
        Mutability: naming the attribute.
    """
    for schema, attribute in _attributes(resource_type):
        new = _container(document, resource_type, schema).get(attribute.name)
        old = _container(current, resource_type, schema).get(attribute.name)
        name = _spell(resource_type, schema, attribute.name)
        if attribute.mutability is Mut.IMMUTABLE and old is not None and new != old:
            raise Mutability(f'attribute "{name}" is immutable and cannot change')
        if _is_single_complex(attribute) and isinstance(old, dict):
            _check_immutable_subs(attribute, new, old, name)


@dataclass(frozen=True, slots=True)
class _Key:
    """What one top-level key of a body names, worked out once per spelling.

    `schema` alone is an extension's object; `attribute` with it one of its
    attributes; neither a key under an unknown namespace, which is ignored.
    """

    resource_type: ResourceType
    schema: Schema | None = None
    attribute: Attribute | None = None
    name: str = ""
    is_schemas: bool = False
    is_stored: bool = True
    is_members: bool = False


# The keys clients send are few and always spelled the same, so each
# spelling's meaning is kept per registry, up to a bound that keys made up
# by a client cannot push memory past.
_KEYS_KEPT = 1024
_known_keys: weakref.WeakKeyDictionary[SchemaRegistry, dict[tuple[str, str, str], _Key]]
_known_keys = weakref.WeakKeyDictionary()


class _BodyReader:
    """Reads the top-level keys of one body into a document."""

    def __init__(
        self, registry: SchemaRegistry, resource_type: ResourceType, limits: Limits
    ) -> None:
        self.registry = registry
        self.resource_type = resource_type
        self.limits = limits
        self.document: dict[str, Any] = {}
        self.member_ids: list[str] | None = None
        self._seen: set[str] = set()
        known = _known_keys.get(registry)
        if known is None:
            known = _known_keys[registry] = {}
        self._known = known

    def read(self, key: str, value: object) -> None:
        found = self._key(key, "", self._find)
        if found.is_schemas:
            _check_schemas(value)
        elif found.attribute is not None:
            self._read_attribute(found, value)
        elif found.schema is not None:
            self._read_extension(found.schema, value)

    def _key(self, key: str, within: str, find: Callable[[str, str], _Key]) -> _Key:
        spelling = (self.resource_type.name, within, key)
        known = self._known.get(spelling)
        if known is not None and known.resource_type is self.resource_type:
            return known
        found = find(key, within)
        if len(self._known) < _KEYS_KEPT:
            self._known[spelling] = found
        return found

    def _find(self, key: str, within: str) -> _Key:
        """What a top-level key names; raises for an unknown attribute."""
        rt = self.resource_type
        if key.lower() == "schemas":
            return _Key(rt, is_schemas=True)
        extension = rt.extension(key)
        if extension is not None:
            return _Key(rt, extension)
        for schema in rt.schemas:
            prefix = schema.id + ":"
            if key.lower().startswith(prefix.lower()):
                attribute = self._attribute(schema, key[len(prefix) :], key)
                return self._plan(schema, attribute)
        # Unqualified keys name core or common attributes only (RFC 7643 §3):
        # extension attributes live under their URN.
        if key.lower().startswith("urn:"):
            return _Key(rt)
        return self._plan(rt.schema, self._attribute(rt.schema, key, key))

    def _find_in_extension(self, key: str, within: str) -> _Key:
        schema = self.resource_type.extension(within)
        attribute = None if schema is None else schema.attribute(key)
        if schema is None or attribute is None:
            raise InvalidValue(f'unknown attribute "{within}:{key}"')
        return self._plan(schema, attribute)

    def _plan(self, schema: Schema, attribute: Attribute) -> _Key:
        rt = self.resource_type
        return _Key(
            rt,
            schema,
            attribute,
            name=_spell(rt, schema, attribute.name),
            is_stored=attribute.name != "schemas"
            and attribute.mutability not in SKIPPED,
            is_members=is_members(rt, attribute),
        )

    def _attribute(self, schema: Schema, name: str, key: str) -> Attribute:
        found = self.registry.find(self.resource_type, name, schema.id)
        if found is None:
            raise InvalidValue(f'unknown attribute "{key}"')
        return found[1]

    def _read_extension(self, schema: Schema, value: object) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise InvalidValue(
                f'"{schema.id}" must be an object, not {json_kind(value)}'
            )
        for key, item in value.items():
            self._read_attribute(
                self._key(key, schema.id, self._find_in_extension), item
            )

    def _read_attribute(self, key: _Key, value: object) -> None:
        name = key.name
        if name in self._seen:
            raise InvalidValue(f'attribute "{name}" is given twice')
        self._seen.add(name)
        if not key.is_stored:
            return
        attribute, schema = key.attribute, key.schema
        assert attribute is not None and schema is not None
        if key.is_members:
            self.member_ids = (
                None if value is None else member_ids(value, limits=self.limits)
            )
            return

        coerced = coerce_value(attribute, value, name=name, limits=self.limits)
        if coerced is None:
            return
        if schema is self.resource_type.schema:
            self.document[attribute.name] = coerced
        else:
            self.document.setdefault(schema.id, {})[attribute.name] = coerced


def is_members(resource_type: ResourceType, attribute: Attribute) -> bool:
    """Whether `attribute` is a Group's `members`, which live beside the document."""
    return (
        attribute.name == MEMBERS
        and resource_type.schema.attribute(MEMBERS) is attribute
    )


def _check_schemas(value: object) -> None:
    # Only the shape is checked: `schemas` is recomputed from what is present.
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidValue(f'"schemas" must be a list of URNs, not {json_kind(value)}')


def _member_id(item: object, limits: Limits) -> str:
    member_id = item.get("value") if isinstance(item, dict) else None
    if not isinstance(member_id, str) or not member_id.strip():
        raise InvalidValue(
            'each of "members" must be an object with the member id as "value"'
        )
    if len(member_id) > limits.max_string_length:
        raise InvalidValue('a "members" value is longer than allowed')
    return member_id


def _check_required(resource_type: ResourceType, document: Mapping[str, Any]) -> None:
    for schema, attribute in _attributes(resource_type):
        if not attribute.required or attribute.mutability in SKIPPED:
            continue
        if schema is not resource_type.schema and schema.id not in document:
            continue
        value = _container(document, resource_type, schema).get(attribute.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            name = _spell(resource_type, schema, attribute.name)
            raise InvalidValue(f'attribute "{name}" is required')


def _keep_immutable(
    resource_type: ResourceType, document: dict[str, Any], current: Mapping[str, Any]
) -> None:
    """Carry over immutable values a PUT leaves out, then refuse any change."""
    for schema, attribute in _attributes(resource_type):
        old = _container(current, resource_type, schema).get(attribute.name)
        if attribute.mutability is not Mut.IMMUTABLE or old is None:
            continue
        target = (
            document
            if schema is resource_type.schema
            else document.setdefault(schema.id, {})
        )
        target.setdefault(attribute.name, old)
    check_immutable(resource_type, document, current)


def _check_immutable_subs(
    attribute: Attribute, new: object, old: dict[str, Any], name: str
) -> None:
    new_value = new if isinstance(new, dict) else {}
    for sub in attribute.sub_attributes:
        if sub.mutability is not Mut.IMMUTABLE or old.get(sub.name) is None:
            continue
        if new_value.get(sub.name) != old[sub.name]:
            raise Mutability(
                f'attribute "{name}.{sub.name}" is immutable and cannot change'
            )


def _with_schemas(
    resource_type: ResourceType, document: dict[str, Any]
) -> dict[str, Any]:
    present = [ext.id for ext in resource_type.extensions if document.get(ext.id)]
    for ext in resource_type.extensions:
        if ext.id in document and not document[ext.id]:
            del document[ext.id]
    return {"schemas": [resource_type.schema.id, *present], **document}


def _attributes(resource_type: ResourceType) -> list[tuple[Schema, Attribute]]:
    return [(s, a) for s in resource_type.schemas for a in s.attributes]


def _container(
    document: Mapping[str, Any], resource_type: ResourceType, schema: Schema
) -> Mapping[str, Any]:
    if schema is resource_type.schema:
        return document
    block = document.get(schema.id)
    return block if isinstance(block, dict) else {}


def _is_single_complex(attribute: Attribute) -> bool:
    return attribute.type is AttrType.COMPLEX and not attribute.multi_valued


def _spell(resource_type: ResourceType, schema: Schema, name: str) -> str:
    return name if schema is resource_type.schema else f"{schema.id}:{name}"
