"""What every backend keeps beside a SCIM document: ids, folded names, instants.

The memory and SQL backends derive these the same way, so that a userName
that clashes in one clashes in all, and so that timestamps sort as text.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from scim_gateway.backends.base import GROUP, USER

__all__ = [
    "fold",
    "format_instant",
    "member_display",
    "new_id",
    "new_ordered_id",
    "normalize_instant",
    "parse_instant",
    "string_attribute",
    "unique_attribute",
    "utc_now",
]


def new_id() -> str:
    """A random (version 4) UUID as text, as `str(uuid.uuid4())` spells it.

    Built from the random bytes directly: a create makes three of these, and
    the `UUID` object in between was half the cost.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40
    raw[8] = raw[8] & 0x3F | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def new_ordered_id() -> str:
    """A version 7 UUID as text: milliseconds since the epoch, then 74 random bits.

    Ids made one after another sort next to each other, so an index keyed by
    them grows at its end, in pages that stay in memory, instead of at a
    random leaf of its whole width, which every commit then writes out again.
    """
    millis = time.time_ns() // 1_000_000
    raw = bytearray(millis.to_bytes(6, "big") + os.urandom(10))
    raw[6] = raw[6] & 0x0F | 0x70
    raw[8] = raw[8] & 0x3F | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def fold(value: object) -> str | None:
    """The case-insensitive form of a string: Python's `str.lower`, as the evaluator.

    SQLite's own `lower()` folds ASCII only; every backend compares the output
    of this function instead. Anything but a string has no folded form.
    """
    if isinstance(value, str):
        return value.lower()
    return None


def format_instant(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC text with microseconds, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def normalize_instant(value: object) -> str | None:
    """An ISO-8601 string or datetime as `format_instant` text; None if it is neither.

    Naive times are taken as UTC (RFC 7643 §2.3.5 asks for an offset; some
    clients omit it).
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_instant(value)


def unique_attribute(resource_type: str) -> str | None:
    """The attribute kept unique per tenant for a resource type (RFC 7643 §4)."""
    if resource_type == USER:
        return "userName"
    if resource_type == GROUP:
        return "displayName"
    return None


def string_attribute(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) else None


def member_display(resource_type: str, document: dict[str, Any]) -> str | None:
    """How a member or group is shown: displayName, or userName for a user."""
    display = string_attribute(document, "displayName")
    if display is None and resource_type == USER:
        return string_attribute(document, "userName")
    return display
