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


def test_new_request_ids_are_unique_and_differ_in_a_forked_child() -> None:
    import os

    from scim_gateway.logs import _new_request_id

    ids = {_new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child writes one id and leaves at once
        os.write(write, _new_request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert child[:16] != _new_request_id()[:16]
