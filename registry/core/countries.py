"""ISO 3166 alpha-2 codes with names in the user's language (from Babel's CLDR data)."""

from __future__ import annotations

from functools import lru_cache

from babel import Locale
from flask_babel import get_locale


@lru_cache(maxsize=1)
def codes() -> frozenset[str]:
    return frozenset(k for k in Locale("en").territories if len(k) == 2 and k.isalpha() and k not in ("EU", "EZ", "UN", "ZZ", "QO"))


@lru_cache(maxsize=4)
def _names(locale_name: str) -> dict[str, str]:
    loc = Locale.parse(locale_name)
    return {c: loc.territories.get(c, c) for c in codes()}


def name(code: str | None, locale_name: str | None = None) -> str:
    if not code:
        return ""
    locale_name = locale_name or str(get_locale() or "en")
    return _names(locale_name).get(code.upper(), code)


def choices(locale_name: str | None = None) -> list[tuple[str, str]]:
    locale_name = locale_name or str(get_locale() or "en")
    names = _names(locale_name)
    first = ["CN", "HK", "MO", "TW"]
    rest = sorted((c for c in names if c not in first), key=lambda c: names[c])
    return [(c, f"{names[c]} ({c})") for c in first + rest]
