"""Proxy headers: the scheme, host, prefix and client a trusted proxy reports.

Behind a reverse proxy the gateway sees the proxy's address, scheme and host.
`ProxyHeadersMiddleware` takes the client's view from the standard
`Forwarded` header (RFC 7239) or else from `X-Forwarded-Proto`,
`X-Forwarded-Host` and `X-Forwarded-For`, plus `X-Forwarded-Prefix` for a
path the proxy strips. It believes them only from the addresses named by
`--forwarded-allow-ips`: from anyone else they would let a client point
`meta.location` and `Location` at a host of its choosing.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "ForwardedView",
    "ProxyHeadersMiddleware",
    "TrustedProxies",
    "forwarded_view",
    "parse_forwarded",
]

logger = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")

_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
_PREFIX = re.compile(r"^(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$")
_PAIR = re.compile(
    r'\s*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s"]*)\s*'
)


class TrustedProxies:
    """The proxy addresses whose forwarding headers count.

    Args:
        spec: comma-separated IP addresses and networks (`10.0.0.0/8`), or
            `*` for every address (only when nothing else can reach the port).

    Raises:
        ValueError: an entry is no address or network.
    """

    def __init__(self, spec: str) -> None:
        entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
        self.trusts_all = "*" in entries
        self._networks: list[IPNetwork] = []
        for entry in entries:
            if entry == "*":
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(
                    f"forwarded_allow_ips: {entry!r} is no IP address or network"
                ) from None

    def __repr__(self) -> str:
        shown = ["*"] if self.trusts_all else [str(n) for n in self._networks]
        return f"TrustedProxies({', '.join(shown)!r})"

    def trusts(self, host: str | None) -> bool:
        if self.trusts_all:
            return True
        address = _address(host)
        return address is not None and any(address in n for n in self._networks)


@dataclass(frozen=True)
class ForwardedView:
    """The request as the client sent it to the outermost trusted proxy."""

    proto: str | None = None
    host: str | None = None
    prefix: str | None = None
    client: str | None = None


def parse_forwarded(header: str) -> list[dict[str, str]]:
    """The elements of a `Forwarded` header (RFC 7239 §4), first proxy first.

    Parameter names are lower-cased and quoted values unquoted; a malformed
    pair is skipped rather than failing the request.
    """
    elements: list[dict[str, str]] = []
    for part in _split_outside_quotes(header, ","):
        element: dict[str, str] = {}
        for pair in _split_outside_quotes(part, ";"):
            match = _PAIR.fullmatch(pair)
            if match is None:
                continue
            name, value = match[1].lower(), match[2]
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            element[name] = value
        elements.append(element)
    return elements


def forwarded_view(headers: Headers, trusted: TrustedProxies) -> ForwardedView:
    """What the proxy headers report, taken as far out as the trusted proxies go.

    Each trusted proxy adds its element on the right, so the elements are read
    from the right, past those whose sender is itself a trusted proxy.
    """
    prefix = _valid_prefix(_last(headers.get("x-forwarded-prefix")))
    forwarded = headers.get("forwarded")
    if forwarded is not None:
        elements = parse_forwarded(forwarded)
        chosen = _outermost(elements, [e.get("for") for e in elements], trusted)
        return ForwardedView(
            proto=_valid_proto(chosen.get("proto")),
            host=_valid_host(chosen.get("host")),
            prefix=prefix,
            client=_node_address(chosen.get("for")),
        )
    hops = [hop.strip() for hop in (headers.get("x-forwarded-for") or "").split(",")]
    hops = [hop for hop in hops if hop]
    client = _outermost(hops, hops, trusted) if hops else None
    return ForwardedView(
        proto=_valid_proto(_last(headers.get("x-forwarded-proto"))),
        host=_valid_host(_last(headers.get("x-forwarded-host"))),
        prefix=prefix,
        client=_node_address(client),
    )


class ProxyHeadersMiddleware:
    """Rewrites scheme, Host, root path and client from a trusted proxy's headers.

    A prefix is added to both `root_path` and `path`, as a host framework's
    mount does, so routing is unchanged and URLs built from the request carry
    the prefix. Requests from other addresses pass untouched.
    """

    def __init__(self, app: ASGIApp, *, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.trusted.trusts(_peer(scope)):
            await self.app(scope, receive, send)
            return
        view = forwarded_view(Headers(scope=scope), self.trusted)
        await self.app(_rewritten(scope, view), receive, send)


def _rewritten(original: Scope, view: ForwardedView) -> Scope:
    scope = dict(original)
    if view.proto is not None:
        scope["scheme"] = view.proto
    if view.host is not None:
        headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
        scope["headers"] = [(b"host", view.host.encode("latin-1")), *headers]
    if view.prefix is not None:
        scope["root_path"] = view.prefix + scope.get("root_path", "")
        scope["path"] = view.prefix + scope["path"]
        if "raw_path" in scope and scope["raw_path"] is not None:
            scope["raw_path"] = view.prefix.encode() + scope["raw_path"]
    if view.client is not None:
        scope["client"] = (view.client, 0)
    return scope


def _outermost(
    items: Sequence[T], senders: Sequence[str | None], trusted: TrustedProxies
) -> T:
    index = len(items) - 1
    while index > 0 and trusted.trusts(_node_address(senders[index])):
        index -= 1
    return items[index]


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def _last(header: str | None) -> str | None:
    # Proxies that append rather than set: the nearest (trusted) one is last.
    if header is None:
        return None
    values = [value.strip() for value in header.split(",") if value.strip()]
    return values[-1] if values else None


def _valid_proto(value: str | None) -> str | None:
    if value is None or value.lower() not in {"http", "https"}:
        return None
    return value.lower()


def _valid_host(value: str | None) -> str | None:
    if value is None or not _HOST.match(value):
        return None
    return value


def _valid_prefix(value: str | None) -> str | None:
    if value is None:
        return None
    prefix = value.rstrip("/")
    if not prefix:
        return None
    if not _PREFIX.match(prefix) or "/../" in prefix + "/" or "/./" in prefix + "/":
        logger.warning("proxy_prefix_ignored reason=malformed")
        return None
    return prefix


def _node_address(node: str | None) -> str | None:
    """The IP address of a `for` node or X-Forwarded-For hop, without its port."""
    if node is None:
        return None
    node = node.strip().strip('"')
    if node.startswith("["):
        node = node[1:].split("]", 1)[0]
    elif node.count(":") == 1:
        node = node.split(":", 1)[0]
    address = _address(node)
    return str(address) if address is not None else None


def _address(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if host is None:
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None
