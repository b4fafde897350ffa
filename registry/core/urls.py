"""Safe redirects and absolute links that never come from the request's Host header."""

from __future__ import annotations

import re

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
