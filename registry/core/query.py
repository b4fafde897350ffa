"""Query helpers: wildcard-safe search and allow-listed sorting."""

from __future__ import annotations

import sqlalchemy as sa

from registry.core.errors import ValidationFailed


def like_pattern(text: str) -> str:
    """A LIKE pattern that matches `text` literally anywhere (escape char: backslash)."""
    text = (text or "")[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{text}%"


def search(columns, q: str | None):
    """OR of case-insensitive literal matches of q over the columns; None when q is empty."""
    if not q or not q.strip():
        return None
    pattern = like_pattern(q.strip())
    return sa.or_(*[c.ilike(pattern, escape="\\") for c in columns])


def order_by(stmt, sort: str | None, allowed: dict, default: str):
    """Sort by an allow-listed key; '-key' sorts descending. Unknown keys are a 422."""
    sort = sort or default
    desc = sort.startswith("-")
    key = sort[1:] if desc else sort
    if key not in allowed:
        raise ValidationFailed(details={"sort": [f"one of: {', '.join(sorted(allowed))}"]})
    col = allowed[key]
    return stmt.order_by(col.desc() if desc else col.asc(), *([] if key == "id" else []))
