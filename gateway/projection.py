"""Response documents: a stored resource rendered, then projected (RFC 7644 §3.9).

`attributes` and `excludedAttributes` select what a response holds, within the
`returned` characteristic of each attribute: `always` is never dropped,
`never` never sent, `request` only when asked for, `default` unless left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, cast

import orjson

from scim_gateway.backends.base import GroupRef, Member, StoredResource
from scim_gateway.filters.ast import AttrPath
from scim_gateway.schemas import (
    Attribute,
    Mutability,
    ResourceType,
    Returned,
    SchemaRegistry,
)

__all__ = ["Projection", "etag", "render", "render_resource"]


def etag(version: int) -> str:
    return f'W/"{version}"'


def format_datetime(moment: datetime) -> str:
    """RFC 3339 with milliseconds; UTC as `Z`, any other offset kept."""
    text = moment.isoformat()
    if len(text) == 32 and text.endswith("+00:00"):
        # The usual case, UTC with microseconds: a third of the cost below.
        return text[:23] + "Z"
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render_resource(
    stored: StoredResource,
    resource_type: ResourceType,
    *,
    base_url: str,
    extensions: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The full SCIM document of a stored resource, as a client reads it.

    `extensions` adds read-only extension objects the gateway keeps outside
    the document (the invitation of a user), by schema URN.
    """
    extra = extensions or {}
    # `schemas` and `id` come first; the stored `schemas` is replaced below.
    document: dict[str, Any] = {
        "schemas": None,
        "id": stored.id,
        **stored.document,
        **_added(stored, resource_type, base_url, extra),
    }
    document["schemas"] = _schemas(stored, resource_type, extra)
    return document


def render(
    stored: StoredResource,
    resource_type: ResourceType,
    projection: Projection,
    *,
    base_url: str,
    extensions: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any] | orjson.Fragment:
    """What a response holds of one resource: `render_resource`, then projected.

    When the projection keeps every stored attribute (no `attributes` or
    `excludedAttributes`, as nearly every client asks), the stored JSON text
    goes into the response as it is, and only what the gateway adds (`id`,
    `meta`, members or groups, extensions) is built and projected: a page of
    a hundred users then costs no decoding and re-encoding of documents.
    The result is the same document either way; `orjson` embeds a fragment.
    """
    memo = stored.memo
    if memo is not None and not extensions and projection.keeps_stored_documents:
        # With nothing added from outside the resource, the response depends
        # only on the resource, its type and the base URL: kept on the
        # resource for the next request that reads the same object (a
        # backend's kept page).
        (memo_url, memo_type), fragment = cast(_Memo, memo)
        if memo_type is resource_type and memo_url == base_url:
            return fragment
    extra = extensions or {}

    def long_way() -> dict[str, Any]:
        return projection.apply(
            render_resource(stored, resource_type, base_url=base_url, extensions=extra)
        )

    if not projection.keeps_stored_documents:
        return long_way()
    added = _added(stored, resource_type, base_url, extra)
    if not all(projection.keeps_whole(key) for key in added):
        added = projection.apply(added)
    text = stored.text
    if any(uri in added for uri in extra) or not _is_object(text):
        # An added extension belongs in `schemas`, which is inside the text.
        return long_way()
    try:
        added_part = orjson.dumps(added)
    except TypeError:
        return long_way()
    # `added` always holds `meta`, so neither part is empty.
    fragment = orjson.Fragment(
        b'{"id":'
        + orjson.dumps(stored.id)
        + b","
        + text[1:-1].encode()
        + b","
        + added_part[1:]
    )
    if not extra:
        stored.memo = ((base_url, resource_type), fragment)
    return fragment


# What `render` keeps on a resource: for which base URL and type, and the JSON.
_Memo = tuple[tuple[str, ResourceType], orjson.Fragment]


def _is_object(text: str) -> bool:
    return text.startswith("{") and text.endswith("}") and len(text) > 2


def _added(
    stored: StoredResource,
    resource_type: ResourceType,
    base_url: str,
    extra: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    """What `render_resource` adds to the stored document, in the same order."""
    added: dict[str, Any] = dict(extra)
    if stored.members is not None:
        added["members"] = [
            _reference(member.id, f"{base_url}/{member.type}s/", member.type, member)
            for member in stored.members
        ]
    if stored.groups is not None:
        added["groups"] = [
            _reference(group.id, f"{base_url}/Groups/", "direct", group)
            for group in stored.groups
        ]
    added["meta"] = _meta(stored, resource_type, base_url)
    return added


def _meta(
    stored: StoredResource, resource_type: ResourceType, base_url: str
) -> dict[str, str]:
    created = format_datetime(stored.created)
    is_unchanged = stored.last_modified == stored.created
    return {
        "resourceType": resource_type.name,
        "created": created,
        "lastModified": created
        if is_unchanged
        else format_datetime(stored.last_modified),
        "location": f"{base_url}{resource_type.endpoint}/{stored.id}",
        "version": etag(stored.version),
    }


def _reference(
    value: str, prefix: str, kind: str, target: Member | GroupRef
) -> dict[str, Any]:
    reference = {"value": value, "$ref": prefix + value, "type": kind}
    if target.display is not None:
        reference["display"] = target.display
    return reference


def _schemas(
    stored: StoredResource,
    resource_type: ResourceType,
    extra: Mapping[str, dict[str, Any]],
) -> list[str]:
    schemas = [resource_type.schema.id]
    schemas.extend(
        ext.id
        for ext in resource_type.extensions
        if ext.id in stored.document or ext.id in extra
    )
    return schemas


@dataclass(frozen=True)
class Projection:
    """What one request asked to see: attribute paths included or excluded.

    Paths are resolved `AttrPath`s; an empty `attributes` means "the default
    set".
    """

    resource_type: ResourceType
    attributes: tuple[AttrPath, ...] = ()
    excluded: tuple[AttrPath, ...] = ()
    _registry: SchemaRegistry = field(default_factory=SchemaRegistry, compare=False)
    _rules: dict[str, _Rule] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @cached_property
    def keeps_stored_documents(self) -> bool:
        """Whether projection leaves every attribute a client can store as it is.

        True for the default projection of a type whose writable attributes
        are all returned by default; `render` then copies stored JSON text.
        """
        return (
            not self.attributes
            and not self.excluded
            and _returns_all_stored(self.resource_type)
        )

    def keeps_whole(self, key: str) -> bool:
        """Whether the top-level `key` is kept with all of its value."""
        return (self._rules.get(key) or self._learn_rule(key)) is _KEEP

    def wants(self, name: str) -> bool:
        """Whether the response may hold the top-level core attribute `name`.

        Used to skip loading members of a group, or groups of a user, that the
        response would drop anyway.
        """
        if any(
            p.uri is None and p.name == name and p.sub is None for p in self.excluded
        ):
            return False
        if self.attributes:
            return any(p.uri is None and p.name == name for p in self.attributes)
        return True

    def apply(self, document: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in document.items():
            rule = self._rules.get(key) or self._learn_rule(key)
            if rule.extension is not None:
                kept = _project_extension(rule.extension, value)
                if kept:
                    result[key] = kept
                continue
            kept_value = rule.project(value)
            if kept_value is not _DROP:
                result[key] = kept_value
        return self._schemas_present(result)

    def _schemas_present(self, result: dict[str, Any]) -> dict[str, Any]:
        # RFC 7643 §3: `schemas` names the schemas of the attributes present,
        # so an extension left out of the response leaves the list too.
        schemas = result.get("schemas")
        if not isinstance(schemas, list):
            return result
        result["schemas"] = [
            uri
            for uri in schemas
            if self.resource_type.extension(uri) is None or uri in result
        ]
        return result

    def _learn_rule(self, key: str) -> _Rule:
        """The rule of a top-level key, worked out once per projection.

        What is kept depends only on the schema and the request, never on the
        value, so a page of a hundred resources asks the schema once per key.
        """
        extension = self.resource_type.extension(key)
        if extension is not None:
            rules = {a.name: self._rule(extension.id, a) for a in extension.attributes}
            rule = _Rule(extension=rules)
        else:
            found = self._registry.find(self.resource_type, key)
            rule = _KEEP if found is None else self._rule(None, found[1])
        self._rules[key] = rule
        return rule

    def _rule(self, uri: str | None, attribute: Attribute) -> _Rule:
        if attribute.returned is Returned.NEVER:
            return _DROP_ALL
        if attribute.returned is Returned.ALWAYS:
            return _KEEP
        if self._is_excluded(uri, attribute.name, None):
            return _DROP_ALL
        if not attribute.sub_attributes:
            return _KEEP if self._is_selected(uri, attribute) else _DROP_ALL
        keep = frozenset(
            sub.name
            for sub in attribute.sub_attributes
            if self._is_sub_selected(uri, attribute, sub)
        )
        if len(keep) == len(attribute.sub_attributes):
            return _KEEP
        return _Rule(keeps_all=False, kept_subs=keep)

    def _is_selected(self, uri: str | None, attribute: Attribute) -> bool:
        if not self.attributes:
            return attribute.returned is not Returned.REQUEST
        return any(p.uri == uri and p.name == attribute.name for p in self.attributes)

    def _is_sub_selected(
        self, uri: str | None, parent: Attribute, sub: Attribute
    ) -> bool:
        if sub.returned is Returned.NEVER:
            return False
        if self._is_excluded(uri, parent.name, sub.name):
            return False
        if sub.returned is Returned.REQUEST:
            return any(
                p.uri == uri and p.name == parent.name and p.sub == sub.name
                for p in self.attributes
            )
        if not self.attributes:
            return True
        return any(
            p.uri == uri and p.name == parent.name and p.sub in (None, sub.name)
            for p in self.attributes
        )

    def _is_excluded(self, uri: str | None, name: str, sub: str | None) -> bool:
        return any(
            p.uri == uri and p.name == name and (p.sub is None or p.sub == sub)
            for p in self.excluded
        )


def _returns_all_stored(resource_type: ResourceType) -> bool:
    """Whether every attribute that can be stored is returned by default.

    Stored attributes are the writable ones; `readOnly` ones are computed or
    ignored, `writeOnly` ones (a password) never kept.
    """
    stored = (Mutability.READ_WRITE, Mutability.IMMUTABLE)
    shown = (Returned.DEFAULT, Returned.ALWAYS)
    return all(
        item.returned in shown
        for schema in resource_type.schemas
        for attribute in schema.attributes
        if attribute.mutability in stored
        for item in (attribute, *attribute.sub_attributes)
        if item.mutability in stored
    )


class _Drop:
    """Marks a value that projection leaves out."""


_DROP: Any = _Drop()


@dataclass(frozen=True)
class _Rule:
    """What projection does to the value of one attribute, whatever the value.

    Keep it whole, keep only `kept_subs` of a complex value (nothing kept
    drops it), or, for an extension's URN, apply a rule per attribute.
    """

    keeps_all: bool = True
    kept_subs: frozenset[str] = frozenset()
    extension: dict[str, _Rule] | None = None

    def project(self, value: Any) -> Any:
        if self.keeps_all:
            return value
        if not self.kept_subs:
            return _DROP
        if isinstance(value, list):
            trimmed = [_trim(element, self.kept_subs) for element in value]
            return [element for element in trimmed if element] or _DROP
        trimmed_one = _trim(value, self.kept_subs)
        return trimmed_one if trimmed_one else _DROP


_KEEP = _Rule()
_DROP_ALL = _Rule(keeps_all=False)


def _trim(element: Any, keep: frozenset[str]) -> Any:
    if not isinstance(element, dict):
        return element
    return {k: v for k, v in element.items() if k in keep}


def _project_extension(rules: dict[str, _Rule], value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    kept: dict[str, Any] = {}
    for key, item in value.items():
        rule = rules.get(key)
        if rule is None:
            continue
        projected = rule.project(item)
        if projected is not _DROP:
            kept[key] = projected
    return kept
