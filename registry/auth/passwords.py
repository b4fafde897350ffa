"""Password policy (SPEC §5a): at least 12 characters, no composition rules, no common passwords."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 12
MAX_LENGTH = 128

# A valid scrypt hash of a random, discarded password, checked for unknown users so that the answer
# takes as long as for a known user with a wrong password. A constant, not computed at import: scrypt
# takes 32 MiB and ~0.1 s, which every process (each gunicorn worker, every CLI command, every export
# job's peak memory) paid at start-up. Same method and parameters as `hash_password` (a test checks).
_DUMMY_HASH = ("scrypt:32768:8:1$bYdgdichlTXyu7wb$6b93271df2d61b1582899d5f7db6bf830d4038e0c35ab2ac850de6eb9849"
               "2f160c8c1b749246161daf417a5cf8c49e63a2c6f71d56ccde43d2fc83d6374d9d95")


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
