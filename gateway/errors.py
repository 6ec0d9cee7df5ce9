"""SCIM errors (RFC 7644 §3.12) and the one place they become HTTP responses.

The hierarchy::

    ScimError                     status, scim_type, detail
    ├── InvalidSyntax             400 invalidSyntax
    ├── InvalidValue              400 invalidValue
    ├── InvalidFilter             400 invalidFilter
    ├── InvalidPath               400 invalidPath
    ├── NoTarget                  400 noTarget
    ├── Mutability                400 mutability
    ├── TooMany                   400 tooMany
    ├── InvalidVersion            400 invalidVers
    ├── Unauthorized              401
    ├── Forbidden                 403
    ├── NotFound                  404
    ├── MethodNotAllowed          405
    ├── NotAcceptable             406
    ├── Uniqueness                409 uniqueness
    ├── Conflict                  409 (a state change the state does not allow)
    ├── PreconditionFailed        412
    ├── PayloadTooLarge           413
    ├── UnsupportedMediaType      415
    ├── TooManyRequests           429, Retry-After
    ├── InternalError             500, carries the request id
    ├── NotImplementedFeature     501
    └── Unavailable               503, Retry-After
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ERROR_SCHEMA",
    "Conflict",
    "Forbidden",
    "InternalError",
    "InvalidFilter",
    "InvalidPath",
    "InvalidSyntax",
    "InvalidValue",
    "InvalidVersion",
    "MethodNotAllowed",
    "Mutability",
    "NoTarget",
    "NotAcceptable",
    "NotFound",
    "NotImplementedFeature",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ScimError",
    "TooMany",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "Uniqueness",
    "UnsupportedMediaType",
]

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    """An error answered as a SCIM error document.

    Args:
        detail: one sentence for the client, naming the attribute, operator or
            token at fault; never a secret, SQL or a stack trace.
    """

    status: ClassVar[int] = 400
    scim_type: ClassVar[str | None] = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def headers(self) -> dict[str, str]:
        return {}

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
        }
        if self.scim_type is not None:
            document["scimType"] = self.scim_type
        document["detail"] = self.detail
        return document


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class Mutability(ScimError):
    scim_type = "mutability"


class TooMany(ScimError):
    scim_type = "tooMany"


class InvalidVersion(ScimError):
    scim_type = "invalidVers"


class Unauthorized(ScimError):
    status = 401

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="scim"'}


class Forbidden(ScimError):
    status = 403


class NotFound(ScimError):
    status = 404


class MethodNotAllowed(ScimError):
    status = 405


class NotAcceptable(ScimError):
    status = 406


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"


class Conflict(ScimError):
    """A change the resource's state does not allow now (confirm before accept)."""

    status = 409


class PreconditionFailed(ScimError):
    status = 412


class PayloadTooLarge(ScimError):
    status = 413


class UnsupportedMediaType(ScimError):
    status = 415


class _RetryLater(ScimError):
    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooManyRequests(_RetryLater):
    status = 429


class Unavailable(_RetryLater):
    status = 503


class InternalError(ScimError):
    status = 500

    def __init__(self, request_id: str) -> None:
        super().__init__(f"internal error; quote request id {request_id} to support")
        self.request_id = request_id


class NotImplementedFeature(ScimError):
    status = 501
