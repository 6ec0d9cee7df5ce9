"""The command line's log format: tracebacks only where someone must read them."""

from __future__ import annotations

import logging
import sys

from scim_gateway.logs import LineFormatter


def record_of(level: int) -> logging.LogRecord:
    try:
        raise ConnectionRefusedError(111, "Connect call failed")
    except ConnectionRefusedError:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "asyncpg.pool", level, __file__, 1, "pool retry=%s", ("floor",), exc_info
    )


def test_a_warning_with_an_exception_is_one_line_naming_its_class() -> None:
    text = LineFormatter("%(levelname)s %(message)s").format(record_of(logging.WARNING))

    assert text == "WARNING pool retry=floor error=ConnectionRefusedError"


def test_an_error_keeps_its_traceback() -> None:
    text = LineFormatter("%(levelname)s %(message)s").format(record_of(logging.ERROR))

    assert text.startswith("ERROR pool retry=floor\nTraceback (most recent call last)")


def test_formatting_leaves_the_record_for_other_handlers() -> None:
    record = record_of(logging.WARNING)

    LineFormatter("%(message)s").format(record)

    assert record.exc_info is not None
    assert record.getMessage() == "pool retry=floor"
