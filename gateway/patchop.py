"""The PatchOp request message (RFC 7644 §3.5.2): its wire model and parsing.

Parsing checks the envelope only: `schemas`, the `Operations` list and the
shape of each operation. Paths are resolved against the schema registry by
`apply_patch`, which knows the resource type.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from scim_gateway.errors import InvalidSyntax, PayloadTooLarge

__all__ = ["PATCH_OP", "Op", "PatchOperation", "parse_patch_request"]

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Op(enum.Enum):
    ADD = "add"
    REMOVE = "remove"
    REPLACE = "replace"


@dataclass(frozen=True)
class PatchOperation:
    """One operation as sent: `path` is the raw text, None when absent."""

    op: Op
    path: str | None = None
    value: Any = None


class _OperationModel(BaseModel):
    # Stray keys such as the Entra validator's "name" are ignored (B35).
    model_config = ConfigDict(extra="ignore", strict=True)

    op: str
    path: str | None = None
    value: Any = None


class _PatchRequestModel(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    schemas: list[str] | None = None
    operations: list[_OperationModel] = Field(
        validation_alias=AliasChoices("Operations", "operations")
    )


def parse_patch_request(
    body: object, *, max_operations: int | None = None
) -> list[PatchOperation]:
    """Read a PatchOp request body into operations.

    `op` is matched in any letter case (Entra sends `Replace`); a missing
    `schemas` is tolerated, a `schemas` without the PatchOp URN is not; an
    empty `Operations` list is a valid request that changes nothing.

    Raises:
        InvalidSyntax: not a PatchOp message, an unknown `op`, an `add` or
            `replace` without `value`, a field of the wrong type.
        PayloadTooLarge: more than `max_operations` operations.
    """
    if not isinstance(body, dict):
        raise InvalidSyntax("the PATCH body must be a JSON object")
    try:
        request = _PatchRequestModel.model_validate(body)
    except ValidationError as exc:
        raise InvalidSyntax(_describe(exc)) from None
    if request.schemas is not None and PATCH_OP.lower() not in _lowered(
        request.schemas
    ):
        raise InvalidSyntax(f'"schemas" must contain "{PATCH_OP}"')
    if max_operations is not None and len(request.operations) > max_operations:
        raise PayloadTooLarge(
            f"the request has {len(request.operations)} operations; "
            f"at most {max_operations} are allowed"
        )

    raw_operations = _raw_operations(body)
    return [
        _operation(number, model, raw)
        for number, (model, raw) in enumerate(
            zip(request.operations, raw_operations, strict=True), start=1
        )
    ]


def _operation(
    number: int, model: _OperationModel, raw: dict[str, Any]
) -> PatchOperation:
    try:
        op = Op(model.op.lower())
    except ValueError:
        raise InvalidSyntax(
            f'operation {number} has op "{model.op}"; expected add, remove or replace'
        ) from None
    if op is not Op.REMOVE and "value" not in raw:
        raise InvalidSyntax(f'operation {number} ("{op.value}") has no "value"')
    path = model.path.strip() if model.path is not None else None

    return PatchOperation(op, path or None, model.value)


def _raw_operations(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw = body.get("Operations", body.get("operations"))
    return list(raw) if isinstance(raw, list) else []


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "missing":
        return f'the PatchOp request has no "{where}"'
    return f'"{where}" in the PatchOp request is invalid: {error["msg"].lower()}'


def _lowered(values: list[str]) -> set[str]:
    return {value.lower() for value in values}
