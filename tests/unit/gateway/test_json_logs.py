"""`--log-format json`: one JSON object per record, fields parsed from the message."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from scim_gateway.config import Settings
from scim_gateway.logs import ContextFilter, JsonFormatter, request_id


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            exc_info = sys.exc_info()
    made = logging.LogRecord(
        "scim_gateway.test", logging.WARNING, __file__, 1, message, args, exc_info
    )
    ContextFilter().filter(made)
    return made


def test_event_and_fields_become_members() -> None:
    token = request_id.set("req-7")
    try:
        line = JsonFormatter().format(
            record("auth_failed reason=%s source=%s", "x", "1")
        )
    finally:
        request_id.reset(token)

    entry = json.loads(line)

    assert entry["event"] == "auth_failed"
    assert (entry["reason"], entry["source"]) == ("x", "1")
    assert (entry["level"], entry["logger"]) == ("WARNING", "scim_gateway.test")
    assert (entry["request_id"], entry["tenant"]) == ("req-7", "-")
    assert entry["time"].endswith("Z")


def test_a_traceback_is_one_member_of_one_line() -> None:
    line = JsonFormatter().format(record("internal_error request_id=%s", "r", exc=True))

    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["exception"]


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log_format must be one of text, json"):
        Settings.from_env({"SCIM_GATEWAY_LOG_FORMAT": "xml"})
