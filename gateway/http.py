"""The wire edge: reading SCIM request bodies and writing SCIM responses."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from scim_gateway.errors import (
    InvalidSyntax,
    InvalidValue,
    NotAcceptable,
    PayloadTooLarge,
    ScimError,
    UnsupportedMediaType,
)

__all__ = ["SCIM_MEDIA_TYPE", "ScimResponse", "error_response", "read_json"]

SCIM_MEDIA_TYPE = "application/scim+json"
_JSON_TYPES = {"application/scim+json", "application/json"}
_ACCEPTABLE = _JSON_TYPES | {"*/*", "application/*"}
_INT_MAX = 2**63 - 1
_INT_MIN = -(2**63)


class ScimResponse(Response):
    """A JSON body typed `application/scim+json` (RFC 7644 §3.1)."""

    media_type = SCIM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return encode_json(content)


def encode_json(content: Any) -> bytes:
    """Compact UTF-8 JSON, as `json.dumps` writes it with no spaces and no escapes.

    orjson is a tenth of the cost; what it refuses (integers past 64 bits,
    which JSON allows) goes to the standard library, so nothing changes.
    """
    try:
        return orjson.dumps(content)
    except TypeError:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def error_response(error: ScimError) -> ScimResponse:
    return ScimResponse(
        error.to_document(), status_code=error.status, headers=error.headers
    )


def check_accept(request: Request) -> None:
    """Refuse a request that accepts no JSON at all (406); no header accepts all.

    Entra sends GETs without a SCIM Accept header, so anything lenient passes.
    """
    accept = request.headers.get("accept")
    if not accept:
        return
    offered = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    if offered & _ACCEPTABLE or not any(offered):
        return
    raise NotAcceptable(
        "responses are application/scim+json; the Accept header rules it out"
    )


async def read_json(request: Request, *, max_bytes: int, max_depth: int) -> Any:
    """Read and parse a request body, within the size and nesting limits.

    Raises:
        UnsupportedMediaType: the body is typed as something other than JSON.
        PayloadTooLarge: the body is larger than `max_bytes`.
        InvalidSyntax: the body is not JSON, has duplicate keys, or nests too deep.
    """
    _check_content_type(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes")

    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"request body is larger than {max_bytes} bytes")
        chunks.append(chunk)

    return parse_json(b"".join(chunks), max_depth=max_depth)


def parse_json(raw: bytes, *, max_depth: int) -> Any:
    """Parse a request body into JSON values that every store can hold.

    Raises:
        InvalidSyntax: not UTF-8 or not JSON, a repeated key, NaN or Infinity,
            a NUL or lone surrogate, or nesting deeper than `max_depth`.
        InvalidValue: an integer beyond 64 bits, or a number past a double.
    """
    if not raw.strip():
        raise InvalidSyntax("request body is empty; a JSON object was expected")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSyntax(
            f"request body is not valid UTF-8 at byte {exc.start}"
        ) from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
        )
    except json.JSONDecodeError as exc:
        raise InvalidSyntax(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidSyntax(
            f"request body nests deeper than {max_depth} levels"
        ) from None
    except ValueError as exc:
        raise InvalidSyntax(f"request body is not valid JSON: {exc}") from None
    if _may_hide_anything(text, max_depth):
        _check_structure(value, max_depth=max_depth)
    return value


def _may_hide_anything(text: str, max_depth: int) -> bool:
    """Whether the parsed body needs `_check_structure`'s walk.

    A NUL or a lone surrogate can only come from a `\\u` escape (the parser
    refuses raw control characters, and UTF-8 cannot carry surrogates), and
    a body with no more brackets than `max_depth` cannot nest deeper. Most
    bodies have neither, and skip the walk.
    """
    return "\\u" in text or text.count("{") + text.count("[") > max_depth


def _check_content_type(content_type: str | None) -> None:
    # A missing Content-Type is tolerated: several scripted clients omit it.
    if content_type is None:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _JSON_TYPES:
        return
    shown = media_type if media_type.isascii() and media_type.isprintable() else "?"
    raise UnsupportedMediaType(
        f'Content-Type "{shown[:64]}" is not supported; send application/scim+json'
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidSyntax(f'request body repeats the key "{key}" in one object')
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise InvalidSyntax(f"request body contains {name}, which JSON does not allow")


def _bounded_int(text: str) -> int:
    # Postgres bigint and SQLite INTEGER hold 64 bits; checking the length
    # first keeps int() away from huge digit strings.
    number = int(text) if len(text) <= 20 else None
    if number is None or not _INT_MIN <= number <= _INT_MAX:
        raise InvalidValue("request body has an integer beyond 64 bits")
    return number


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise InvalidValue("request body has a number too large for a double")
    return number


def _check_structure(value: Any, *, max_depth: int) -> None:
    """Refuse deep nesting, and strings no store can hold.

    JSON escapes can spell a NUL or an unpaired surrogate (`\\u0000`,
    `\\ud800`); PostgreSQL refuses both and they are no text anyone meant,
    so they are refused here, once, for every body.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node)
        elif isinstance(node, dict | list):
            if depth > max_depth:
                raise InvalidSyntax(
                    f"request body nests deeper than {max_depth} levels"
                )
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
            if isinstance(node, dict):
                stack.extend((key, depth) for key in node)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise InvalidSyntax("request body holds a NUL character (\\u0000)")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidSyntax("request body holds an unpaired surrogate escape") from None
