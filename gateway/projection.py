"""Response documents: a stored resource rendered, then projected (RFC 7644 §3.9).

`attributes` and `excludedAttributes` select what a response holds, within the
`returned` characteristic of each attribute: `always` is never dropped,
`never` never sent, `request` only when asked for, `default` unless left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scim_gateway.backends.base import StoredResource
from scim_gateway.filters.ast import AttrPath
from scim_gateway.schemas import Attribute, ResourceType, Returned, SchemaRegistry

__all__ = ["Projection", "etag", "render_resource"]


def etag(version: int) -> str:
    return f'W/"{version}"'


def format_datetime(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render_resource(
    stored: StoredResource, resource_type: ResourceType, *, base_url: str
) -> dict[str, Any]:
    """The full SCIM document of a stored resource, as a client reads it."""
    location = f"{base_url}{resource_type.endpoint}/{stored.id}"
    document: dict[str, Any] = {
        "schemas": _schemas(stored, resource_type),
        "id": stored.id,
    }
    document.update((k, v) for k, v in stored.document.items() if k != "schemas")
    if stored.members is not None:
        document["members"] = [
            {
                "value": member.id,
                "$ref": f"{base_url}/{member.type}s/{member.id}",
                "type": member.type,
                **({"display": member.display} if member.display is not None else {}),
            }
            for member in stored.members
        ]
    if stored.groups is not None:
        document["groups"] = [
            {
                "value": group.id,
                "$ref": f"{base_url}/Groups/{group.id}",
                "type": "direct",
                **({"display": group.display} if group.display is not None else {}),
            }
            for group in stored.groups
        ]
    document["meta"] = {
        "resourceType": resource_type.name,
        "created": format_datetime(stored.created),
        "lastModified": format_datetime(stored.last_modified),
        "location": location,
        "version": etag(stored.version),
    }
    return document


def _schemas(stored: StoredResource, resource_type: ResourceType) -> list[str]:
    schemas = [resource_type.schema.id]
    schemas.extend(
        ext.id for ext in resource_type.extensions if ext.id in stored.document
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
            extension = self.resource_type.extension(key)
            if extension is not None:
                kept = self._project_extension(
                    extension.id, value, extension.attributes
                )
                if kept:
                    result[key] = kept
                continue
            found = self._registry.find(self.resource_type, key)
            if found is None:
                result[key] = value
                continue
            kept_value = self._project(None, found[1], value)
            if kept_value is not _DROP:
                result[key] = kept_value
        return result

    def _project_extension(
        self, uri: str, value: Any, attributes: Sequence[Attribute]
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            return {}
        by_name = {a.name: a for a in attributes}
        kept: dict[str, Any] = {}
        for key, item in value.items():
            attribute = by_name.get(key)
            if attribute is None:
                continue
            projected = self._project(uri, attribute, item)
            if projected is not _DROP:
                kept[key] = projected
        return kept

    def _project(self, uri: str | None, attribute: Attribute, value: Any) -> Any:
        if attribute.returned is Returned.NEVER:
            return _DROP
        if attribute.returned is Returned.ALWAYS:
            return value
        if self._is_excluded(uri, attribute.name, None):
            return _DROP
        if not attribute.sub_attributes:
            return value if self._is_selected(uri, attribute) else _DROP
        return self._project_complex(uri, attribute, value)

    def _project_complex(
        self, uri: str | None, attribute: Attribute, value: Any
    ) -> Any:
        keep = {
            sub.name
            for sub in attribute.sub_attributes
            if self._is_sub_selected(uri, attribute, sub)
        }
        if not keep:
            return _DROP
        if len(keep) == len(attribute.sub_attributes):
            return value

        def trim(element: Any) -> Any:
            if not isinstance(element, dict):
                return element
            return {k: v for k, v in element.items() if k in keep}

        if isinstance(value, list):
            trimmed = [trim(element) for element in value]
            return [element for element in trimmed if element] or _DROP
        trimmed_one = trim(value)
        return trimmed_one if trimmed_one else _DROP

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


class _Drop:
    """Marks a value that projection leaves out."""


_DROP: Any = _Drop()
