"""Errors raised while parsing or resolving filters and attribute paths."""

from __future__ import annotations

__all__ = ["FilterError", "FilterSyntaxError", "UnknownAttributeError"]


class FilterError(Exception):
    """A filter or path that cannot be used; `detail` is one sentence for the client.

    The gateway maps it to `invalidFilter` for filters and `invalidPath` for
    PATCH paths.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class FilterSyntaxError(FilterError):
    """The text does not follow the grammar; `position` is a 0-based offset."""

    def __init__(self, detail: str, *, position: int | None = None) -> None:
        if position is not None:
            detail = f"{detail} at position {position}"
        super().__init__(detail)
        self.position = position


class UnknownAttributeError(FilterError):
    """The text names an attribute that the schema does not define."""

    def __init__(self, name: str, *, position: int | None = None) -> None:
        detail = f'unknown attribute "{name}"'
        if position is not None:
            detail = f"{detail} at position {position}"
        super().__init__(detail)
        self.name = name
        self.position = position
