"""Accept tokens, and the keys invitations are found by."""

from __future__ import annotations

import hashlib
import re
import time

from scim_gateway.invitations import accept_key, new_accept_token


def test_a_token_is_its_time_then_256_random_bits() -> None:
    before = time.time_ns() // 1_000_000
    token = new_accept_token()
    after = time.time_ns() // 1_000_000

    made, secret = token.split(".")
    assert before <= int(made, 16) <= after
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)


def test_keys_of_later_tokens_sort_after_earlier_ones() -> None:
    keys = []
    for _ in range(3):
        keys.append(accept_key(new_accept_token()))
        time.sleep(0.002)

    assert keys == sorted(keys)
    assert len(set(keys)) == 3


def test_a_key_holds_the_digest_of_the_whole_token_and_never_its_secret() -> None:
    token = new_accept_token()
    made, secret = token.split(".")

    key = accept_key(token)

    assert key == f"{made}.{hashlib.sha256(token.encode()).hexdigest()}"
    assert secret not in key


def test_a_token_without_a_time_keys_as_its_bare_digest() -> None:
    token = "x" * 43

    assert accept_key(token) == hashlib.sha256(token.encode()).hexdigest()
