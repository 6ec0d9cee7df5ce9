"""The PATCH engine (RFC 7644 §3.5.2): operations applied to a stored document.

`apply_patch` works on a deep copy and validates the result with the same
normaliser as POST, so a request applies completely or not at all, and a
PATCH never stores what a POST could not. Client dialects are absorbed once,
before the engine runs (`scim_gateway.dialect`). Group members are not in the
document: member operations come back as `MemberChanges` for the backend.

Choices where the RFC leaves room or real clients disagree with it:

* `add` through a value filter that matches nothing creates the element from
  the filter's `eq` terms (`emails[type eq "work"].value`, Entra and B20);
  `replace` through such a filter is `noTarget` as RFC 7644 §3.5.2.3 says
  (B20), unless `upsert_on_replace` is set.
* `remove` of something that is not there succeeds and changes nothing, so a
  retried request (Entra, Okta) does not fail; a `remove` without a path is
  `noTarget`.
* `remove` on `members` with a value removes only the listed members (Entra's
  default dialect); without a value it removes them all.
* Setting a value's `primary` to true clears it on the other values.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from scim_gateway.backends.base import Member
from scim_gateway.coercion import DEFAULT_LIMITS, Limits, coerce_value
from scim_gateway.dialect import AttributeTarget, ExtensionTarget, Step, read_steps
from scim_gateway.errors import InvalidValue, Mutability, NoTarget, ScimError
from scim_gateway.filters.ast import And, Compare, CompareOp, Expr, Or
from scim_gateway.filters.evaluator import select_elements
from scim_gateway.membership import (
    MemberChanges,
    MemberLedger,
    MembersRequired,
    member_element,
)
from scim_gateway.patchop import Op, PatchOperation, parse_patch_request
from scim_gateway.schemas import Attribute, ResourceType, SchemaRegistry
from scim_gateway.validation import (
    check_immutable,
    check_member_count,
    is_members,
    member_ids,
    normalize_resource,
)

logger = logging.getLogger(__name__)

__all__ = [
    "MemberChanges",
    "MembersRequired",
    "Op",
    "PatchOperation",
    "PatchResult",
    "apply_patch",
    "member_changes_only",
    "parse_patch_request",
]


@dataclass(frozen=True)
class PatchResult:
    """The outcome of a PATCH.

    `document` is the new storable document (the shape `normalize_resource`
    gives). `member_changes` is None when the request changes no membership.
    `changed` says whether the document or, as far as the engine can tell,
    the membership changed.
    """

    document: dict[str, Any]
    member_changes: MemberChanges | None
    changed: bool


def apply_patch(
    registry: SchemaRegistry,
    resource_type: ResourceType,
    document: Mapping[str, Any],
    operations: Sequence[PatchOperation],
    *,
    members: Sequence[Member] | None = None,
    limits: Limits = DEFAULT_LIMITS,
    upsert_on_replace: bool = False,
) -> PatchResult:
    """Apply PATCH operations to a stored document, all or nothing.

    Args:
        document: the stored document; it is not modified.
        operations: from `parse_patch_request`.
        members: a Group's current members. Needed only for member filters
            other than `value eq` (`members[display eq "x"]`); without them
            such a request raises `MembersRequired`.
        upsert_on_replace: let `replace` through an unmatched value filter
            create the element, as `add` does.

    Raises:
        MembersRequired: call again with `members`.
        InvalidPath, NoTarget, Mutability, InvalidValue: the SCIM errors of
            RFC 7644 §3.5.2; nothing was changed.
    """
    steps = read_steps(registry, resource_type, operations, limits=limits)
    engine = _Engine(resource_type, document, members, limits, upsert_on_replace)
    for step in steps:
        logger.debug("patch.step op=%s path=%s", step.op.value, _spell(step))
        engine.apply(step)

    changes = engine.ledger.changes()
    if engine.document == document:
        # Only members changed, or nothing did (Entra's member adds): the
        # stored document stands, and need not be validated again.
        has_changes = changes is not None and not changes.is_empty
        return PatchResult(dict(document), changes, has_changes)
    normalized = normalize_resource(
        registry, resource_type, engine.document, limits=limits
    )
    check_immutable(resource_type, normalized.document, document)
    is_changed = normalized.document != document or (
        changes is not None and not changes.is_empty
    )
    return PatchResult(normalized.document, changes, is_changed)


def member_changes_only(
    registry: SchemaRegistry,
    resource_type: ResourceType,
    operations: Sequence[PatchOperation],
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> MemberChanges | None:
    """The members a PATCH adds and removes by id, when it changes nothing else.

    Such a request (Entra's member adds and removes) leaves the stored
    document as it is, and `apply_patch` would answer the same changes without
    looking at it, so the caller may hand them to the backend without reading
    the group. None for anything else: another attribute, a whole new member
    list, a member filter on more than `value`, or an invalid request, which
    `apply_patch` then reports in its usual order (after a missing group and a
    failed If-Match).
    """
    engine = _Engine(resource_type, {}, None, limits, upsert_on_replace=False)
    try:
        for step in read_steps(registry, resource_type, operations, limits=limits):
            target = step.target
            if isinstance(target, ExtensionTarget):
                return None
            if not is_members(resource_type, target.attribute):
                return None
            logger.debug("patch.step op=%s path=%s", step.op.value, _spell(step))
            engine.apply(step)
    except (ScimError, MembersRequired):
        return None
    changes = engine.ledger.changes()
    if changes is None or changes.replace is not None:
        return None
    return changes


class _Engine:
    def __init__(
        self,
        resource_type: ResourceType,
        document: Mapping[str, Any],
        members: Sequence[Member] | None,
        limits: Limits,
        upsert_on_replace: bool,
    ) -> None:
        self.resource_type = resource_type
        self.document: dict[str, Any] = copy.deepcopy(dict(document))
        self.ledger = MemberLedger(members)
        self.member_count = 0
        self.limits = limits
        self.upsert_on_replace = upsert_on_replace

    def apply(self, step: Step) -> None:
        target = step.target
        if isinstance(target, ExtensionTarget):
            self.document.pop(target.schema.id, None)
        elif is_members(self.resource_type, target.attribute):
            self._apply_members(step.op, target, step.value)
        elif target.value_filter is not None:
            self._apply_filtered(step.op, target, step.value)
        elif target.sub is not None:
            self._apply_sub(step.op, target, step.value)
        else:
            self._apply_attribute(step.op, target, step.value)

    def _container(self, target: AttributeTarget, *, create: bool) -> dict[str, Any]:
        if target.uri is None:
            return self.document
        block = self.document.get(target.uri)
        if not isinstance(block, dict):
            block = {}
            if create:
                self.document[target.uri] = block
        return block

    def _coerce(self, attribute: Attribute, value: object, name: str) -> Any:
        return coerce_value(attribute, value, name=name, limits=self.limits)

    def _apply_attribute(self, op: Op, target: AttributeTarget, value: object) -> None:
        attribute = target.attribute
        container = self._container(target, create=op is not Op.REMOVE)
        if op is Op.REMOVE:
            self._remove_attribute(container, target, value)
            return
        coerced = self._coerce(attribute, value, target.text)
        if coerced is None:
            if op is Op.REPLACE:
                container.pop(attribute.name, None)
            return

        current = container.get(attribute.name)
        if attribute.multi_valued:
            kept = current if op is Op.ADD and isinstance(current, list) else []
            added = [e for e in coerced if e not in kept]
            container[attribute.name] = kept + added
            _settle_primary(container[attribute.name], added)
        elif isinstance(current, dict) and _is_merge(coerced, current):
            # RFC 7644 §3.5.2.1/§3.5.2.3: sub-attributes not given are kept.
            current.update(coerced)
        else:
            container[attribute.name] = coerced

    def _remove_attribute(
        self, container: dict[str, Any], target: AttributeTarget, value: object
    ) -> None:
        name = target.attribute.name
        current = container.get(name)
        if value is None or not isinstance(current, list):
            container.pop(name, None)
            return
        unwanted = self._coerce(target.attribute, value, target.text) or []
        kept = [e for e in current if not any(_contains(e, u) for u in unwanted)]
        _store(container, name, kept)

    def _apply_sub(self, op: Op, target: AttributeTarget, value: object) -> None:
        assert target.sub is not None
        container = self._container(target, create=op is not Op.REMOVE)
        current = container.get(target.attribute.name)
        if target.attribute.multi_valued:
            elements = current if isinstance(current, list) else []
            if not elements and op is not Op.REMOVE:
                elements = [{}]
            self._set_sub(op, target, elements, value)
            _store(container, target.attribute.name, elements)
            return
        element = current if isinstance(current, dict) else {}
        self._set_sub(op, target, [element], value)
        if element:
            container[target.attribute.name] = element
        else:
            container.pop(target.attribute.name, None)

    def _set_sub(
        self,
        op: Op,
        target: AttributeTarget,
        elements: list[dict[str, Any]],
        value: object,
    ) -> None:
        sub = target.sub
        assert sub is not None
        coerced = None if op is Op.REMOVE else self._coerce(sub, value, target.text)
        for element in elements:
            if coerced is not None:
                element[sub.name] = coerced
            elif op is not Op.ADD:
                element.pop(sub.name, None)
        elements[:] = [e for e in elements if e]
        if sub.name == "primary" and coerced is True and len(elements) > 1:
            raise InvalidValue(
                f'path "{target.text}" would make several values primary'
            )

    def _apply_filtered(self, op: Op, target: AttributeTarget, value: object) -> None:
        assert target.value_filter is not None
        attribute = target.attribute
        container = self._container(target, create=op is not Op.REMOVE)
        current = container.get(attribute.name)
        if attribute.multi_valued:
            elements = list(current) if isinstance(current, list) else []
        else:
            elements = [current] if isinstance(current, dict) else []
        matched = select_elements(target.value_filter, elements)

        if not matched:
            if op is Op.REMOVE:
                return
            if op is Op.REPLACE and not self.upsert_on_replace:
                raise NoTarget(f'no value matches the filter in path "{target.text}"')
            elements.append(self._element_from_filter(target))
            matched = [len(elements) - 1]
        written = self._change_matched(op, target, elements, matched, value)

        if attribute.multi_valued:
            _settle_primary(elements, written)
            _store(container, attribute.name, _unique(elements))
        elif elements:
            container[attribute.name] = elements[0]
        else:
            container.pop(attribute.name, None)

    def _change_matched(
        self,
        op: Op,
        target: AttributeTarget,
        elements: list[Any],
        matched: list[int],
        value: object,
    ) -> list[Any]:
        """Change the matched elements in place; answer the ones written."""
        if target.sub is not None:
            chosen = [elements[i] for i in matched]
            self._set_sub(op, target, chosen, value)
            elements[:] = [e for e in elements if e]
            return chosen if op is not Op.REMOVE else []
        if op is Op.REMOVE:
            elements[:] = [e for i, e in enumerate(elements) if i not in matched]
            return []
        element = self._coerce_element(target, value)
        for i in matched:
            # B23: replace swaps the matched value in place; add merges into it.
            elements[i] = (
                dict(element) if op is Op.REPLACE else {**elements[i], **element}
            )
        return [elements[i] for i in matched]

    def _coerce_element(self, target: AttributeTarget, value: object) -> dict[str, Any]:
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not isinstance(value, dict):
            raise InvalidValue(f'path "{target.text}" needs an object value')
        single = replace(target.attribute, multi_valued=False)
        element = self._coerce(single, value, target.text)
        return element if isinstance(element, dict) else {}

    def _element_from_filter(self, target: AttributeTarget) -> dict[str, Any]:
        """The element an unmatched `add` creates: the filter's `eq` terms."""
        assert target.value_filter is not None
        terms = _equalities(target.value_filter)
        if terms is None:
            raise NoTarget(
                f'no value matches the filter in path "{target.text}", and the '
                "filter does not describe a value to create"
            )
        element: dict[str, Any] = {}
        for name, raw in terms.items():
            # The parser resolved the filter's names to sub-attributes.
            sub = target.attribute.sub(name)
            assert sub is not None
            element[sub.name] = self._coerce(
                sub, raw, f"{target.attribute.name}.{sub.name}"
            )
        return element

    def _apply_members(self, op: Op, target: AttributeTarget, value: object) -> None:
        if target.sub is not None or (
            target.value_filter is not None and op is not Op.REMOVE
        ):
            raise Mutability(
                f'path "{target.text}" would change members in place; '
                "add or remove members instead"
            )
        if target.value_filter is not None:
            self.ledger.remove(
                self._counted(self._filtered_member_ids(target.value_filter))
            )
        elif op is Op.ADD:
            self.ledger.add(self._counted(member_ids(value, limits=self.limits)))
        elif op is Op.REPLACE:
            self.ledger.replace(self._counted(member_ids(value, limits=self.limits)))
        elif value is None:
            self.ledger.replace([])
        else:
            self.ledger.remove(self._counted(member_ids(value, limits=self.limits)))

    def _counted(self, ids: list[str]) -> list[str]:
        """`ids`, once the request's members so far are within the limit."""
        self.member_count += len(ids)
        check_member_count(self.member_count, self.limits)
        return ids

    def _filtered_member_ids(self, value_filter: Expr) -> list[str]:
        # Entra and Okta remove by `members[value eq "id"]`: no need to read
        # the group's members for that.
        ids = _value_ids(value_filter)
        if ids is not None:
            return ids
        if not self.ledger.is_known:
            raise MembersRequired
        current = self.ledger.current()
        elements = [member_element(m) for m in current]
        return [current[i].id for i in select_elements(value_filter, elements)]


def _spell(step: Step) -> str:
    target = step.target
    return target.schema.id if isinstance(target, ExtensionTarget) else target.text


def _equalities(expr: Expr) -> dict[str, Any] | None:
    """`type eq "work" and primary eq true` as {"type": "work", "primary": True}."""
    if isinstance(expr, Compare) and expr.op is CompareOp.EQ and expr.path.sub is None:
        return {expr.path.name: expr.value}
    if isinstance(expr, And):
        left, right = _equalities(expr.left), _equalities(expr.right)
        if left is None or right is None or set(left) & set(right):
            return None
        return {**left, **right}
    return None


def _value_ids(expr: Expr) -> list[str] | None:
    """The ids of `value eq "a" or value eq "b"`, or None for any other filter."""
    if isinstance(expr, Or):
        left, right = _value_ids(expr.left), _value_ids(expr.right)
        return None if left is None or right is None else left + right
    is_value_eq = (
        isinstance(expr, Compare)
        and expr.op is CompareOp.EQ
        and expr.path.name == "value"
        and expr.path.sub is None
        and isinstance(expr.value, str)
    )
    if is_value_eq:
        assert isinstance(expr, Compare) and isinstance(expr.value, str)
        return [expr.value]
    return None


def _is_merge(new: object, current: dict[str, Any]) -> bool:
    """Whether `new` merges into `current` rather than replacing it.

    A new reference (a manager with another `value`) replaces the old one
    whole, so that no `$ref` of the previous manager is left behind.
    """
    if not isinstance(new, dict):
        return False
    return "value" not in new or new["value"] == current.get("value")


def _settle_primary(elements: list[Any], written: list[Any]) -> None:
    """RFC 7644 §3.5.2: a value set primary makes the others non-primary."""
    primaries = [e for e in written if isinstance(e, dict) and e.get("primary") is True]
    if not primaries:
        return
    for element in elements:
        if isinstance(element, dict) and element.get("primary") is True:
            if not any(element is p for p in primaries):
                element["primary"] = False


def _contains(element: object, wanted: object) -> bool:
    if isinstance(element, dict) and isinstance(wanted, dict):
        return all(element.get(k) == v for k, v in wanted.items())
    return element == wanted


def _unique(elements: list[Any]) -> list[Any]:
    unique: list[Any] = []
    for element in elements:
        if element not in unique:
            unique.append(element)
    return unique


def _store(container: dict[str, Any], name: str, elements: list[Any]) -> None:
    if elements:
        container[name] = elements
    else:
        container.pop(name, None)
