"""List and search requests (RFC 7644 §3.4.2, §3.4.3): parameters to a backend query.

Query strings and `/.search` bodies carry the same parameters; both become a
`SearchRequest`, which is resolved against one resource type into a backend
`Query` and a `Projection`.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scim_gateway.backends.base import Query, SortSpec
from scim_gateway.coercion import DEFAULT_LIMITS, Limits
from scim_gateway.errors import InvalidFilter, InvalidSyntax, InvalidValue
from scim_gateway.filters.ast import AttrPath
from scim_gateway.filters.errors import FilterError, UnknownAttributeError
from scim_gateway.filters.parser import parse_attr_path, parse_filter
from scim_gateway.projection import Projection
from scim_gateway.schemas import INVITATION_USER, ResourceType, SchemaRegistry

__all__ = ["LIST_RESPONSE", "SEARCH_REQUEST", "SearchRequest"]

# Far past any real store, and small enough for every SQL engine's OFFSET.
_MAX_START_INDEX = 2**31

logger = logging.getLogger(__name__)

_UNSORTABLE = frozenset({"members", "groups"})

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


@dataclass(frozen=True)
class SearchRequest:
    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int | None = None
    attributes: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> SearchRequest:
        """From a query string; unknown parameters are ignored (Entra adds flags)."""
        return cls(
            filter=params.get("filter") or None,
            sort_by=params.get("sortBy") or None,
            descending=_is_descending(params.get("sortOrder")),
            start_index=_start_index(params.get("startIndex")),
            count=_count(params.get("count")),
            attributes=_split(params.get("attributes")),
            excluded=_split(params.get("excludedAttributes")),
        )

    @classmethod
    def from_body(cls, body: Any) -> SearchRequest:
        """From a `/.search` body (RFC 7644 §3.4.3)."""
        if not isinstance(body, dict):
            raise InvalidSyntax("a search request must be a JSON object")
        keys = {key.lower(): value for key, value in body.items()}
        return cls(
            filter=_optional_text(keys, "filter", "filter"),
            sort_by=_optional_text(keys, "sortby", "sortBy"),
            descending=_is_descending(_optional_text(keys, "sortorder", "sortOrder")),
            start_index=_start_index(keys.get("startindex")),
            count=_count(keys.get("count")),
            attributes=_names(keys.get("attributes"), "attributes"),
            excluded=_names(keys.get("excludedattributes"), "excludedAttributes"),
        )

    def page_size(self, *, default: int, maximum: int) -> int:
        # RFC 7644 §3.4.2.4: a count above the maximum is clamped, not refused.
        if self.count is None:
            return min(default, maximum)
        return min(self.count, maximum)

    def to_query(
        self,
        registry: SchemaRegistry,
        resource_type: ResourceType,
        *,
        count: int,
        limits: Limits = DEFAULT_LIMITS,
        across_types: bool = False,
    ) -> Query | None:
        """The backend query for one resource type.

        With `across_types` (root `/.search`) an attribute this type lacks is
        no error: a filter naming it matches nothing here (None), and a sortBy
        naming it leaves this type in creation order.
        """
        resolve = _stored_only(functools.partial(registry.resolve, resource_type))
        expr = None
        if self.filter is not None:
            try:
                expr = parse_filter(
                    self.filter,
                    resolve,
                    max_length=limits.max_filter_length,
                    max_depth=limits.max_filter_depth,
                )
            except UnknownAttributeError as exc:
                if across_types:
                    return None
                raise InvalidFilter(exc.detail) from None
            except FilterError as exc:
                raise InvalidFilter(exc.detail) from None
            logger.debug("filter.parsed resource=%s ast=%r", resource_type.name, expr)
        sort = None
        if self.sort_by is not None:
            try:
                path = parse_attr_path(
                    self.sort_by, resolve, max_length=limits.max_filter_length
                )
                sort = SortSpec(path, self.descending)
            except UnknownAttributeError as exc:
                if not across_types:
                    raise InvalidValue(f"sortBy: {exc.detail}") from None
            except FilterError as exc:
                raise InvalidValue(f"sortBy: {exc.detail}") from None
            if (
                sort is not None
                and sort.path.uri is None
                and sort.path.name in _UNSORTABLE
            ):
                # Memberships live beside the resource, and no store orders by them.
                raise InvalidValue(f'sortBy "{self.sort_by}" is not supported')
        projection = self.projection(registry, resource_type)
        return Query(
            filter=expr,
            sort=sort,
            start_index=self.start_index,
            count=count,
            with_members=resource_type.name == "Group" and projection.wants("members"),
            with_groups=resource_type.name == "User" and projection.wants("groups"),
        )

    def projection(
        self, registry: SchemaRegistry, resource_type: ResourceType
    ) -> Projection:
        return _projection(registry, resource_type.name, self.attributes, self.excluded)


@functools.lru_cache(maxsize=256)
def _projection(
    registry: SchemaRegistry,
    type_name: str,
    attributes: tuple[str, ...],
    excluded: tuple[str, ...],
) -> Projection:
    # Clients repeat the same few attribute lists, most often none at all: one
    # Projection each keeps its resolved paths and its per-key rules warm.
    resource_type = registry.resource_type(type_name)
    return Projection(
        resource_type,
        attributes=resolve_names(registry, resource_type, attributes),
        excluded=resolve_names(
            registry, resource_type, excluded, label="excludedAttributes"
        ),
        _registry=registry,
    )


def _stored_only(
    resolve: Callable[[AttrPath], AttrPath],
) -> Callable[[AttrPath], AttrPath]:
    """`resolve`, refusing the invitation extension, which lives outside the
    document the backends filter and sort (docs/invitations.md)."""

    def check(path: AttrPath) -> AttrPath:
        resolved = resolve(path)
        if resolved.uri == INVITATION_USER:
            raise FilterError(
                f'"{INVITATION_USER}:{resolved.dotted}" cannot be filtered or '
                "sorted on; list invitations through the admin API"
            )
        return resolved

    return check


def resolve_names(
    registry: SchemaRegistry,
    resource_type: ResourceType,
    names: Sequence[str],
    *,
    label: str = "attributes",
) -> tuple[AttrPath, ...]:
    """Resolve `attributes` entries; a bare extension URN means all its attributes.

    Unknown names are skipped: RFC 7644 §3.9 does not make them an error, and a
    client asking for an attribute the server lacks should still get the rest.
    """
    resolve = functools.partial(registry.resolve, resource_type)
    paths: list[AttrPath] = []
    for name in names:
        extension = resource_type.extension(name)
        if extension is not None:
            paths.extend(
                AttrPath(a.name, uri=extension.id) for a in extension.attributes
            )
            continue
        try:
            paths.append(parse_attr_path(name, resolve))
        except UnknownAttributeError:
            continue
        except FilterError as exc:
            raise InvalidValue(f"{label}: {exc.detail}") from None
    return tuple(paths)


def _split(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _names(raw: Any, key: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        return _split(raw)
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return tuple(item.strip() for item in raw if item.strip())
    raise InvalidValue(f"{key} must be a list of attribute names")


def _optional_text(keys: Mapping[str, Any], key: str, name: str) -> str | None:
    value = keys.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidValue(f"{name} must be a string")
    return value


def _is_descending(raw: str | None) -> bool:
    if raw is None or raw.lower() == "ascending":
        return False
    if raw.lower() == "descending":
        return True
    raise InvalidValue(f'sortOrder must be "ascending" or "descending", not "{raw}"')


def _whole_number(raw: Any, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise InvalidValue(f"{name} must be a whole number")
    if isinstance(raw, int):
        return raw
    # int() would also read other scripts' digits and "1_000"; SCIM means ASCII.
    text = raw.strip() if isinstance(raw, str) else ""
    if text.lstrip("-").isdigit() and text.isascii() and len(text) <= 30:
        return int(text)
    raise InvalidValue(f"{name} must be a whole number")


def _start_index(raw: Any) -> int:
    # RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1.
    value = _whole_number(raw, "startIndex")
    if value is None or value < 1:
        return 1
    return min(value, _MAX_START_INDEX)


def _count(raw: Any) -> int | None:
    # RFC 7644 §3.4.2.4: a negative count is read as 0.
    value = _whole_number(raw, "count")
    return None if value is None else max(value, 0)
