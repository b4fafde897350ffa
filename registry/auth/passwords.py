"""Password policy (SPEC §5a): at least 12 characters, no composition rules, no common passwords."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 12
MAX_LENGTH = 128

# A valid scrypt hash of a random password, checked for unknown users so that the
# answer takes as long as for a known user with a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password-6f1c0b2e")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("registry").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line and not line.startswith("#"))


def password_problems(password: str, username: str = "") -> list:
    """Translated reasons why `password` is refused (empty when acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(_l("Use at least %(n)d characters.", n=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        problems.append(_l("Use at most %(n)d characters.", n=MAX_LENGTH))
    lowered = password.lower()
    if lowered in common_passwords() or len(set(password)) <= 2:
        problems.append(_l("This password is too common or too easy to guess."))
    elif username and username.lower() in lowered:
        problems.append(_l("The password must not contain the user name."))
    return problems


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt (Werkzeug's default)


def check_password(stored_hash: str | None, password: str) -> bool:
    if not stored_hash:
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(stored_hash, password)
