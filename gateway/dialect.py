"""Real clients' PATCH dialects, turned into plain resolved steps once.

The PATCH engine only ever sees `Step`s: one operation on one resolved target.
This module makes them from what clients really send (Entra ID above all,
docs/patching.md):

* a path-less `add`/`replace` (Okta's deactivation, authentik's whole-group
  replace, Entra's `aadOptscim062020` dialect) becomes one step per key; keys
  may be dotted (`name.givenName`) or URN-qualified
  (`urn:...:enterprise:2.0:User:employeeNumber`); read-only keys in it (Okta's
  own group `id`, authentik's `schemas`) are ignored, as in a PUT body;
* a path that is a bare extension URN addresses the extension's attributes;
* Entra clears the manager with an empty value: that is a `remove`;
* Entra sends app roles in PATCH as JSON strings inside `value`: they are
  read as the role objects they encode;
* a member `remove` whose value is an object holding `members` (B16).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from scim_gateway.coercion import DEFAULT_LIMITS, Limits, json_kind
from scim_gateway.errors import InvalidPath, InvalidValue, Mutability, NoTarget
from scim_gateway.filters.ast import AttrPath, AttrType, Expr, PatchPath
from scim_gateway.filters.errors import FilterError, UnknownAttributeError
from scim_gateway.filters.parser import parse_filter, parse_path
from scim_gateway.patchop import Op, PatchOperation
from scim_gateway.schemas import Attribute, ResourceType, Schema, SchemaRegistry
from scim_gateway.schemas import Mutability as Mut
from scim_gateway.validation import is_members

__all__ = ["AttributeTarget", "ExtensionTarget", "Step", "read_steps"]

# `attr[filter]` or `attr[filter].sub`; the filter may hold "]" inside quotes.
_FILTERED_PATH = re.compile(
    r"(?P<attr>[^\[\]\s]+)\[(?P<filter>.*)\](?:\.(?P<sub>[\w$]+))?", re.S
)


@dataclass(frozen=True)
class AttributeTarget:
    """A resolved path: `attribute`, optionally filtered, optionally one sub.

    `uri` is the extension URN the attribute is nested under in the document,
    None for core and common attributes. `text` is the path as written, for
    error messages.
    """

    text: str
    uri: str | None
    attribute: Attribute
    value_filter: Expr | None = None
    sub: Attribute | None = None


@dataclass(frozen=True)
class ExtensionTarget:
    """A path that is a bare extension schema URN (B24)."""

    schema: Schema


@dataclass(frozen=True)
class Step:
    op: Op
    target: AttributeTarget | ExtensionTarget
    value: Any = None


def read_steps(
    registry: SchemaRegistry,
    resource_type: ResourceType,
    operations: Sequence[PatchOperation],
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Step]:
    """Resolve every operation's path and absorb the client dialects.

    Raises:
        InvalidPath: a path that does not parse or names no attribute.
        NoTarget: a `remove` without a path (RFC 7644 §3.5.2.2).
        Mutability: a path that names a read-only attribute.
        InvalidValue: a path-less operation whose value is not an object.
    """
    reader = _reader(registry, resource_type.name, limits)
    if reader.resource_type is not resource_type:
        reader = _StepReader(registry, resource_type, limits)
    steps: list[Step] = []
    for operation in operations:
        steps.extend(reader.read(operation))
    return steps


@functools.lru_cache(maxsize=16)
def _reader(registry: SchemaRegistry, type_name: str, limits: Limits) -> _StepReader:
    return _StepReader(registry, registry.resource_type(type_name), limits)


class _StepReader:
    # Clients repeat the same few paths (Entra: "members", "active", ...);
    # each is parsed and resolved once, up to this many distinct ones.
    _MAX_TARGETS = 256

    def __init__(
        self, registry: SchemaRegistry, resource_type: ResourceType, limits: Limits
    ) -> None:
        self.registry = registry
        self.resource_type = resource_type
        self.limits = limits
        self._resolve = functools.partial(registry.resolve, resource_type)
        self._targets: dict[str, AttributeTarget | ExtensionTarget | None] = {}

    def read(self, operation: PatchOperation) -> list[Step]:
        op, value = operation.op, operation.value
        if operation.path is None:
            return self._expand(op, value)
        target = self.target(operation.path)
        if target is None:
            return self._expand(op, value)
        if isinstance(target, ExtensionTarget):
            if op is Op.REMOVE:
                return [Step(op, target)]
            return self._expand_extension(op, target.schema, value)
        attribute = target.sub or target.attribute
        if target.attribute.mutability is Mut.READ_ONLY or (
            attribute.mutability is Mut.READ_ONLY
        ):
            raise Mutability(f'attribute "{target.text}" is readOnly')
        return self._keep(Step(op, target, value))

    def target(self, text: str) -> AttributeTarget | ExtensionTarget | None:
        """The target a path names; None for the core schema URN (the resource)."""
        if text in self._targets:
            return self._targets[text]
        target = self._find_target(text)
        if len(self._targets) >= self._MAX_TARGETS:
            self._targets.clear()
        self._targets[text] = target
        return target

    def _find_target(self, text: str) -> AttributeTarget | ExtensionTarget | None:
        schema = self.resource_type.schema_for(text)
        if schema is self.resource_type.schema:
            return None
        if schema is not None:
            return ExtensionTarget(schema)
        try:
            path = self._parse_path(text)
        except FilterError as exc:
            single = self._single_valued_filter(text)
            if single is None:
                raise InvalidPath(f'{exc.detail} in path "{text}"') from None
            return single
        # The parser has resolved every name, so the lookups below succeed.
        uri = path.attr.uri
        found = self.registry.find(
            self.resource_type, path.attr.name, uri or self.resource_type.schema.id
        )
        if found is None:
            raise InvalidPath(f'unknown attribute "{path.attr.name}" in path "{text}"')
        attribute = found[1]
        sub = None if path.sub is None else attribute.sub(path.sub)
        return AttributeTarget(text, uri, attribute, path.value_filter, sub)

    def _parse_path(self, text: str) -> PatchPath:
        return parse_path(
            text,
            self._resolve,
            max_length=self.limits.max_filter_length,
            max_depth=self.limits.max_filter_depth,
        )

    def _single_valued_filter(self, text: str) -> AttributeTarget | None:
        """`manager[value eq "id"]`: a value filter on a single-valued complex.

        RFC 7644 only filters multi-valued attributes, but Microsoft's
        reference code clears Entra's manager with this path.
        """
        match = _FILTERED_PATH.fullmatch(text)
        if match is None:
            return None
        try:
            head = self._parse_path(match["attr"])
        except FilterError:
            return None
        found = self.registry.find(
            self.resource_type,
            head.attr.name,
            head.attr.uri or self.resource_type.schema.id,
        )
        if found is None or head.sub is not None:
            return None
        attribute = found[1]
        if attribute.type is not AttrType.COMPLEX or attribute.multi_valued:
            return None

        try:
            expr = parse_filter(
                match["filter"],
                functools.partial(_resolve_sub, attribute),
                max_length=self.limits.max_filter_length,
                max_depth=self.limits.max_filter_depth,
            )
        except FilterError as exc:
            raise InvalidPath(f'{exc.detail} in path "{text}"') from None
        sub = attribute.sub(match["sub"]) if match["sub"] else None
        if match["sub"] and sub is None:
            raise InvalidPath(f'unknown attribute "{attribute.name}.{match["sub"]}"')
        return AttributeTarget(text, head.attr.uri, attribute, expr, sub)

    def _expand(self, op: Op, value: object) -> list[Step]:
        """A path-less operation: the value holds the attributes to change."""
        if op is Op.REMOVE:
            raise NoTarget("a remove operation needs a path")
        if not isinstance(value, dict):
            kind = json_kind(value)
            raise InvalidValue(
                f'"{op.value}" without a path needs an object, not {kind}'
            )
        steps: list[Step] = []
        for key, item in value.items():
            steps.extend(self._expand_key(op, key, item))
        return steps

    def _expand_key(self, op: Op, key: str, item: object) -> list[Step]:
        if key.lower() == "schemas" or self._is_unknown_namespace(key):
            return []
        target = self.target(key)
        if target is None:
            return self._expand(op, item)
        if isinstance(target, ExtensionTarget):
            if item is None:
                return [Step(Op.REMOVE, target)] if op is Op.REPLACE else []
            return self._expand_extension(op, target.schema, item)
        if _is_read_only(target):
            return []
        if item is None and is_members(self.resource_type, target.attribute):
            # A whole-group value with "members": null must not empty the group;
            # an explicit `replace` of `members` with `[]` does that.
            return []
        return self._keep(Step(op, target, item))

    def _expand_extension(self, op: Op, schema: Schema, value: object) -> list[Step]:
        if not isinstance(value, dict):
            raise InvalidValue(
                f'"{schema.id}" must be an object, not {json_kind(value)}'
            )
        steps: list[Step] = []
        for key, item in value.items():
            # scim2-tester sends the extension object with its own `schemas`.
            if key.lower() == "schemas":
                continue
            steps.extend(self._expand_key(op, f"{schema.id}:{key}", item))
        return steps

    def _is_unknown_namespace(self, key: str) -> bool:
        # As in a resource body: attributes under a namespace the resource type
        # does not know (a custom Okta namespace) are ignored.
        lowered = key.lower()
        known = (s.id.lower() for s in self.resource_type.schemas)
        return lowered.startswith("urn:") and not any(
            lowered == urn or lowered.startswith(urn + ":") for urn in known
        )

    def _keep(self, step: Step) -> list[Step]:
        """The step after the per-attribute quirks, or none when it stores nothing."""
        target = step.target
        assert isinstance(target, AttributeTarget)
        attribute = target.attribute
        if attribute.name == "schemas" or attribute.mutability is Mut.WRITE_ONLY:
            # `schemas` is recomputed from the attributes present; a password
            # (Okta's password sync) is accepted and never stored.
            return []
        if is_members(self.resource_type, attribute):
            return [_unwrap_members(step)]
        if _clears_reference(step):
            return [Step(Op.REMOVE, replace(target, sub=None))]
        if (
            attribute.name == "roles"
            and target.sub is None
            and step.op is not Op.REMOVE
        ):
            return [replace(step, value=_decoded_roles(step.value))]
        return [step]


def _resolve_sub(attribute: Attribute, path: AttrPath) -> AttrPath:
    """Resolve a path inside `attribute[...]` to one of its sub-attributes."""
    sub = attribute.sub(path.name)
    if sub is None or path.sub is not None or path.uri is not None:
        raise UnknownAttributeError(f"{attribute.name}.{path.dotted}")
    return AttrPath(sub.name, type=sub.type, case_exact=sub.case_exact)


def _is_read_only(target: AttributeTarget) -> bool:
    return any(
        a is not None and a.mutability is Mut.READ_ONLY
        for a in (target.attribute, target.sub)
    )


def _clears_reference(step: Step) -> bool:
    """Entra clears the manager by adding or replacing an empty value."""
    target = step.target
    assert isinstance(target, AttributeTarget)
    attribute = target.attribute
    is_reference = (
        attribute.type is AttrType.COMPLEX
        and not attribute.multi_valued
        and attribute.sub("value") is not None
        and target.value_filter is None
        and (target.sub is None or target.sub.name == "value")
    )
    return is_reference and step.op is not Op.REMOVE and _is_empty_reference(step.value)


def _is_empty_reference(value: object) -> bool:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict) and set(value) <= {"value", "$ref", "displayName"}:
        value = value.get("value")
    return value is None or value == "" or value == [] or value == {}


def _unwrap_members(step: Step) -> Step:
    # B16: a remove may carry {"members": [...]} rather than the list itself.
    value = step.value
    if isinstance(value, dict):
        inner = [v for k, v in value.items() if k.lower() == "members"]
        if inner:
            return replace(step, value=inner[0])
    return step


def _decoded_roles(value: object) -> object:
    """Roles whose `value` is a JSON object in a string, read as role objects.

    Entra's AppRoleAssignmentsComplex mapping PATCHes
    `{"value": "{\\"id\\":..,\\"value\\":..,\\"displayName\\":..}"}`; POST
    sends the role objects themselves (docs/patching.md).
    """
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        return value
    return [_decoded_role(item) for item in value]


def _decoded_role(item: object) -> object:
    if not isinstance(item, dict) or not isinstance(item.get("value"), str):
        return item
    text = item["value"].strip()
    if not text.startswith("{"):
        return item
    try:
        decoded = json.loads(text)
    except ValueError:
        return item
    if not isinstance(decoded, dict) or "value" not in decoded:
        return item
    role = {k: v for k, v in item.items() if k != "value"}
    role["value"] = decoded["value"]
    if "display" not in role and "displayName" in decoded:
        role["display"] = decoded["displayName"]
    for key in ("type", "primary"):
        if key not in role and key in decoded:
            role[key] = decoded[key]
    return role
