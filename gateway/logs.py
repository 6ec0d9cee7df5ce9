"""Request-scoped log context and the one access line per request.

The request id and tenant live in context variables for the length of a
request; `ContextFilter` copies them onto every record so that any module's
log lines carry them. Library code adds no handlers: `scim-gateway serve`
configures output, an embedding host keeps its own.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import secrets
import time
from contextvars import ContextVar
from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ContextFilter",
    "JsonFormatter",
    "LineFormatter",
    "RequestLogMiddleware",
    "configure_logging",
    "request_id",
]

access_log = logging.getLogger("scim_gateway.access")

request_id: ContextVar[str] = ContextVar("scim_gateway_request_id", default="-")
tenant_id: ContextVar[str] = ContextVar("scim_gateway_tenant", default="-")
route_info: ContextVar[dict[str, str] | None] = ContextVar(
    "scim_gateway_route", default=None
)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_FIELD = re.compile(r"(\w+)=(\S*)")


class ContextFilter(logging.Filter):
    """Adds `request_id` and `tenant` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.tenant = tenant_id.get()
        return True


class LineFormatter(logging.Formatter):
    """Formats INFO and WARNING records on one line, naming an exception's class.

    A traceback is for ERROR (a 500) and DEBUG: trouble that recovers by itself,
    such as the driver's pool retrying a lost database, is one line each time.
    """

    def format(self, record: logging.LogRecord) -> str:
        if (
            record.exc_info is None
            or not logging.INFO <= record.levelno < logging.ERROR
        ):
            return super().format(record)
        error = record.exc_info[1]
        brief = logging.makeLogRecord(record.__dict__)
        brief.msg = f"{record.getMessage()} error={type(error).__name__}"
        brief.args = None
        brief.exc_info = None
        brief.exc_text = None
        return super().format(brief)

    # The text of a second's timestamp is made once: formatting it for every
    # access line was a sixth of the line's cost.
    _second = -1
    _stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            moment = self.converter(record.created)
            self._stamp = time.strftime(self.default_time_format, moment)
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"


def configure_logging(level: str, *, as_json: bool = False) -> None:
    """Log to stderr, one line per record; for the CLI only.

    Text lines read `time level logger event key=value ...`; each line is one
    JSON object (`JsonFormatter`) with `as_json`.
    """
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        JsonFormatter()
        if as_json
        else LineFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s "
            "request_id=%(request_id)s tenant=%(tenant)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # No format shows these, and skipping them is a third of the cost of the
    # access line (the "Optimization" section of the logging docs).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, event and its fields.

    A message `request method=GET status=200` becomes `"event": "request"`,
    `"method": "GET"`, `"status": "200"`; the request id and tenant come from
    `ContextFilter`, a traceback as `exception`.
    """

    def format(self, record: logging.LogRecord) -> str:
        event, _, rest = record.getMessage().partition(" ")
        entry: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "event": event,
        }
        for name, value in _FIELD.findall(rest):
            entry.setdefault(name, value)
        for name in ("request_id", "tenant"):
            entry.setdefault(name, str(getattr(record, name, "-")))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RequestLogMiddleware:
    """Gives each request an id (X-Request-ID if sane, else a new one) and logs it.

    One INFO line per request: method, route template, resource type and id,
    status, scimType, duration, tenant and request id. Never headers, bodies
    or query strings: they hold tokens and personal data.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        rid = _incoming_request_id(scope) or _new_request_id()
        rid_token = request_id.set(rid)
        tenant_token = tenant_id.set("-")
        info: dict[str, str] = {}
        route_token = route_info.set(info)
        started = time.perf_counter()
        # Stays None when no answer was sent (the client hung up first).
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request method=%s route=%s resource=%s id=%s status=%s "
                    "scimType=%s duration_ms=%.1f",
                    scope["method"],
                    info.get("route", "-"),
                    info.get("resource", "-"),
                    info.get("id", "-"),
                    status if status is not None else info.get("status", "-"),
                    info.get("scim_type", "-"),
                    elapsed_ms,
                )
            route_info.reset(route_token)
            tenant_id.reset(tenant_token)
            request_id.reset(rid_token)


def note(**fields: str) -> None:
    """Record route facts for the access line of the current request.

    Values come from the request (a resource id is whatever the path held), so
    they are made safe for one log line: see `loggable`.
    """
    info = route_info.get()
    if info is not None:
        info.update((key, loggable(value)) for key, value in fields.items())


def loggable(value: str, *, limit: int = 128) -> str:
    """`value` with no character that could end or forge a log line.

    Control characters, spaces and anything outside printable ASCII are
    escaped as `\\xNN`/`\\uNNNN`, and long values are cut, so a crafted id
    cannot split one access line into two.
    """
    if value.isascii() and value.isprintable() and " " not in value:
        return value[:limit]
    escaped = value.encode("unicode_escape").decode("ascii").replace(" ", "\\x20")
    return escaped[:limit]


# A new request id is 32 hex digits, as a UUID's: a random half drawn once per
# process and a counter, so that ids stay unique across the processes behind
# one proxy without asking the operating system for randomness per request.
_PROCESS_PREFIX = secrets.token_hex(8)
_request_numbers = itertools.count()


def _new_request_id() -> str:
    return f"{_PROCESS_PREFIX}{next(_request_numbers):016x}"


def _draw_prefix_again() -> None:
    global _PROCESS_PREFIX
    _PROCESS_PREFIX = secrets.token_hex(8)


# A forked worker would otherwise repeat its parent's ids.
os.register_at_fork(after_in_child=_draw_prefix_again)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.match(text) else None
    return None
