"""Values checked and coerced to their attribute's type (RFC 7643 §2.3).

Shared by resource bodies (`scim_gateway.validation`) and PATCH values
(`scim_gateway.patch`), so both accept and refuse the same values. Errors
name the attribute and the JSON type received, never the value itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scim_gateway.errors import InvalidValue
from scim_gateway.filters.ast import AttrType
from scim_gateway.schemas import Attribute
from scim_gateway.schemas import Mutability as Mut

__all__ = ["DEFAULT_LIMITS", "Limits", "coerce_value", "json_kind"]

SKIPPED = (Mut.READ_ONLY, Mut.WRITE_ONLY)
"""Mutabilities whose values a client may send but the gateway never stores."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one resource, and one request changing it, may hold.

    Args:
        max_string_length: characters in one string value.
        max_values: elements of one multi-valued attribute (group members are
            not counted: they are stored beside the group).
        max_members: member ids one request may add, remove or set.
        max_filter_length: characters in one filter or PATCH path.
        max_filter_depth: nesting of parentheses and value filters in one.
    """

    max_string_length: int = 65_536
    max_values: int = 1_000
    max_members: int = 10_000
    max_filter_length: int = 4096
    max_filter_depth: int = 50


DEFAULT_LIMITS = Limits()


def coerce_value(
    attribute: Attribute, value: object, *, name: str, limits: Limits
) -> Any:
    """`value` checked and coerced for `attribute`; None when it holds nothing.

    Null, `{}` and `[]` hold nothing (RFC 7643 §2.5). A single object given
    for a multi-valued attribute becomes a one-element list (OneLogin sends
    `emails` so); a bare string given for a single-valued complex attribute
    with a `value` sub-attribute becomes `{"value": ...}` (Entra's manager).

    Raises:
        InvalidValue: naming `name` and what was expected.
    """
    if value is None:
        return None
    if attribute.multi_valued:
        return _coerce_multi(attribute, value, name, limits)
    return _coerce_single(attribute, value, name, limits)


def _coerce_multi(
    attribute: Attribute, value: object, name: str, limits: Limits
) -> Any:
    items = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise InvalidValue(f'attribute "{name}" must be a list, not {json_kind(value)}')
    if len(items) > limits.max_values:
        raise InvalidValue(
            f'attribute "{name}" holds {len(items)} values; at most '
            f"{limits.max_values} are allowed"
        )
    coerced: list[Any] = []
    for item in items:
        element = _coerce_single(attribute, item, name, limits)
        if element is not None and element not in coerced:
            coerced.append(element)
    _check_one_primary(coerced, name)

    return coerced or None


def _coerce_single(
    attribute: Attribute, value: object, name: str, limits: Limits
) -> Any:
    if attribute.type is not AttrType.COMPLEX:
        return _coerce_scalar(attribute, value, name, limits)
    if isinstance(value, str) and not attribute.multi_valued and attribute.sub("value"):
        value = {"value": value}
    # Entra's legacy manager shape: a one-element list for a single value.
    if isinstance(value, list) and not attribute.multi_valued and len(value) == 1:
        value = value[0]
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidValue(
            f'attribute "{name}" must be an object, not {json_kind(value)}'
        )
    complex_value: dict[str, Any] = {}
    for key, item in value.items():
        sub = attribute.sub(key)
        if sub is None:
            raise InvalidValue(f'unknown attribute "{name}.{key}"')
        if sub.name in complex_value:
            raise InvalidValue(f'attribute "{name}.{sub.name}" is given twice')
        if sub.mutability in SKIPPED:
            continue
        coerced = _coerce_scalar(sub, item, f"{name}.{sub.name}", limits)
        if coerced is not None:
            complex_value[sub.name] = coerced

    return complex_value or None


def _coerce_scalar(
    attribute: Attribute, value: object, name: str, limits: Limits
) -> Any:
    if value is None:
        return None
    kind = attribute.type
    if kind is AttrType.BOOLEAN:
        return _coerce_boolean(value, name)
    if kind in (AttrType.INTEGER, AttrType.DECIMAL):
        return _coerce_number(kind, value, name)
    if not isinstance(value, str):
        expected = "a string" if kind is not AttrType.COMPLEX else "no nested object"
        raise InvalidValue(
            f'attribute "{name}" must be {expected}, not {json_kind(value)}'
        )
    if len(value) > limits.max_string_length:
        raise InvalidValue(
            f'attribute "{name}" is longer than {limits.max_string_length} characters'
        )
    if kind is AttrType.DATETIME:
        _check_datetime(value, name)
    return value


def _coerce_boolean(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    # Entra sends booleans as the strings "True" and "False" (and lower case).
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidValue(f'attribute "{name}" must be a boolean, not {json_kind(value)}')


def _coerce_number(kind: AttrType, value: object, name: str) -> int | float:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is AttrType.DECIMAL and isinstance(value, float):
        return value
    expected = "an integer" if kind is AttrType.INTEGER else "a number"
    raise InvalidValue(f'attribute "{name}" must be {expected}, not {json_kind(value)}')


def _check_datetime(value: str, name: str) -> None:
    # xsd:dateTime (RFC 7643 §2.3.5) always has a time part.
    try:
        datetime.fromisoformat(value)
    except ValueError:
        is_valid = False
    else:
        is_valid = "T" in value.upper()
    if not is_valid:
        raise InvalidValue(f'attribute "{name}" must be an xsd:dateTime')


def _check_one_primary(elements: list[Any], name: str) -> None:
    # RFC 7643 §2.4: the primary attribute value "true" MUST appear no more than once.
    primaries = [
        e for e in elements if isinstance(e, dict) and e.get("primary") is True
    ]
    if len(primaries) > 1:
        raise InvalidValue(f'attribute "{name}" has more than one primary value')


def json_kind(value: object) -> str:
    """The JSON type of `value`, for error messages that must not echo values."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"
