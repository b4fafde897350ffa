"""Safe redirects and absolute links that never come from the request's Host header."""

from __future__ import annotations

import re

from werkzeug.routing import IntegerConverter

# Ids are 32-bit in both databases. A larger number in a URL or a body is no record, and must
# not reach the driver (SQLite raises OverflowError above 2**63, PostgreSQL "out of range").
MAX_ID = 2**31 - 1

_SAFE_NEXT = re.compile(r"^/[^/\\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_next(target: str | None, default: str | None = None) -> str | None:
    """Only a path on this site: starts with one '/', not '//' or '/\\', no control characters."""
    from urllib.parse import unquote

    if not target or len(target) > 500 or _CONTROL.search(target) or _CONTROL.search(unquote(target)):
        return default
    decoded = unquote(target)
    if decoded.startswith(("//", "/\\")) or decoded.startswith("/\\"):
        return default
    if target == "/" or _SAFE_NEXT.match(target):
        return target
    return default


def external_url(base_url: str, path: str) -> str:
    """An absolute URL built from the configured base URL (labels, links in exports)."""
    return base_url.rstrip("/") + path


class IdConverter(IntegerConverter):
    """`<int:...>` in routes: a number beyond MAX_ID matches no route (404), never a driver error."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)
