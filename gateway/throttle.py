"""Throttling of failed authentication per client address.

A client address that fails authentication `limit` times within `window`
seconds is refused with 429 and `Retry-After` until that window ends, before
its token is even looked at, so guessing tokens from one address is slow and
cheap to refuse. Successful requests are never counted or delayed: Entra and
every other client with a valid token never meet the throttle.

The counts live in the memory of one process. Several gateway processes
(workers or hosts) each count on their own, so an address may fail up to
`limit` times in each (docs/security.md).
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

__all__ = ["FailedAuthThrottle", "client_address"]

logger = logging.getLogger(__name__)


@dataclass
class _Window:
    started: float
    failures: int


class FailedAuthThrottle:
    """Counts failed authentications per address in fixed windows.

    Args:
        limit: failures an address may have in one window; 0 turns the
            throttle off.
        window: length of a window, in seconds.
        max_addresses: addresses remembered at once; past it the address
            that failed least recently is forgotten, so a flood of addresses
            cannot grow memory without bound.
        clock: seconds from an arbitrary origin (tests pass their own).
    """

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        max_addresses: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    @property
    def is_enabled(self) -> bool:
        return self.limit > 0

    def retry_after(self, address: str) -> int | None:
        """Seconds `address` must wait before its next attempt; None if it may try."""
        found = self._windows.get(address)
        if found is None or found.failures < self.limit:
            return None
        remaining = found.started + self.window - self._clock()
        if remaining <= 0:
            del self._windows[address]
            return None
        return max(1, math.ceil(remaining))

    def record_failure(self, address: str) -> None:
        """Count one failed authentication from `address`."""
        if not self.is_enabled:
            return
        now = self._clock()
        found = self._windows.get(address)
        if found is None or now - found.started >= self.window:
            found = _Window(started=now, failures=0)
            self._windows[address] = found
        found.failures += 1
        self._windows.move_to_end(address)
        if found.failures == self.limit:
            logger.warning(
                "auth_throttled source=%s failures=%s window_s=%s",
                address,
                found.failures,
                self.window,
            )
        while len(self._windows) > self.max_addresses:
            self._windows.popitem(last=False)


def client_address(request: Request) -> str:
    """The address a request came from, as the ASGI server reports it.

    Behind a reverse proxy this is the proxy's address unless the server
    trusts its forwarding headers (`--forwarded-allow-ips`).
    """
    return request.client.host if request.client else "-"
