"""The failed-authentication counter: windows, bounds and the off switch."""

from __future__ import annotations

from scim_gateway.throttle import FailedAuthThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def throttle(
    limit: int = 2, *, max_addresses: int = 100
) -> tuple[FailedAuthThrottle, Clock]:
    clock = Clock()
    made = FailedAuthThrottle(
        limit=limit, window=10, max_addresses=max_addresses, clock=clock
    )
    return made, clock


def test_an_address_may_fail_up_to_the_limit() -> None:
    counter, _ = throttle()

    counter.record_failure("a")
    below = counter.retry_after("a")
    counter.record_failure("a")

    assert below is None
    assert counter.retry_after("a") == 10


def test_retry_after_counts_down_to_the_end_of_the_window() -> None:
    counter, clock = throttle()
    counter.record_failure("a")
    clock.now = 3.5
    counter.record_failure("a")

    clock.now = 9.2

    assert counter.retry_after("a") == 1


def test_a_new_window_starts_the_count_again() -> None:
    counter, clock = throttle()
    counter.record_failure("a")
    clock.now = 10.0

    counter.record_failure("a")

    assert counter.retry_after("a") is None


def test_an_expired_block_is_forgotten() -> None:
    counter, clock = throttle()
    counter.record_failure("a")
    counter.record_failure("a")
    clock.now = 10.0

    assert counter.retry_after("a") is None
    assert len(counter) == 0


def test_memory_is_bounded_by_forgetting_the_oldest_address() -> None:
    counter, _ = throttle(max_addresses=3)

    for address in ("a", "b", "c", "d"):
        counter.record_failure(address)
        counter.record_failure(address)

    assert len(counter) == 3
    assert counter.retry_after("a") is None
    assert counter.retry_after("d") == 10


def test_a_limit_of_zero_counts_nothing() -> None:
    counter, _ = throttle(limit=0)

    counter.record_failure("a")

    assert counter.retry_after("a") is None
    assert len(counter) == 0
