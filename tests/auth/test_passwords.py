"""Password hashing: the dummy hash checked for unknown users costs what a real check costs."""

from __future__ import annotations

import time

from registry.auth import passwords


def _method(stored: str) -> str:
    return stored.split("$", 1)[0]


def test_dummy_hash_has_the_parameters_of_real_hashes():
    real = passwords.hash_password("a long enough passphrase")
    assert _method(passwords._DUMMY_HASH) == _method(real)          # e.g. scrypt:32768:8:1
    assert passwords.check_password(real, "a long enough passphrase")
    assert not passwords.check_password(None, "a long enough passphrase")


def test_unknown_user_check_takes_as_long_as_a_wrong_password():
    real = passwords.hash_password("a long enough passphrase")
    unknown, wrong = [], []
    for _ in range(3):
        t = time.perf_counter()
        assert not passwords.check_password(None, "guess")
        unknown.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert not passwords.check_password(real, "guess")
        wrong.append(time.perf_counter() - t)
    # the same scrypt work: within a factor of 3 of each other (not 100x faster)
    assert min(unknown) * 3 > min(wrong) and min(wrong) * 3 > min(unknown)
