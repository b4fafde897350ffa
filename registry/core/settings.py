"""Unit settings kept in the database and edited by administrators (every change audited).

Read path (issue 8): the settings table was read on every request. `get_settings()` now keeps the
values per process (per app) for `SETTINGS_CACHE_SECONDS` (default 5 s; 0 = read every request).
A change through `update()` drops the cache of the worker that made it when its transaction ends
(commit or rollback), so that worker sees it on its next request; every other worker (gunicorn
process) sees it at most `SETTINGS_CACHE_SECONDS` later. Code that must see the committed rows
right now calls `load(session)` (the settings page and the export writer do).
"""

from __future__ import annotations

import time
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, g, has_app_context
from sqlalchemy.orm import Mapped, mapped_column, scoped_session

from registry.core.models import Base, JSONText, UTCDateTime, utcnow

# Due-date defaults and maxima per level, in days; 0 means "end of the same day".
DEFAULTS: dict[str, object] = {
    "unit_name": "示例研究所",
    "unit_short_name": "示例所",
    "home_country": "CN",
    "timezone": "Asia/Shanghai",
    "base_url": None,  # None: the BASE_URL configuration value
    "due_days_top_secret": 0,
    "due_days_secret": 3,
    "due_days_confidential": 7,
    "due_days_internal": 30,
    "due_days_unclassified": 30,
    "max_days_top_secret": 1,
    "max_days_secret": 7,
    "max_days_confidential": 30,
    "max_days_internal": 90,
    "max_days_unclassified": 365,
    "session_idle_minutes": None,  # None: configuration value
    "session_absolute_minutes": None,
    "staff_self_checkout": True,
    "require_totp_for_privileged": False,
    "registry_prefix_media": "ZT",
    "registry_prefix_computer": "JSJ",
    "registry_prefix_storage": "YD",
    "registry_prefix_equipment": "SB",
}


class Setting(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(sa.String(60), primary_key=True)
    value: Mapped[object] = mapped_column(JSONText)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(sa.String(64), default="")


def load(session) -> dict:
    values = dict(DEFAULTS)
    for row in session.scalars(sa.select(Setting)):
        if row.key in DEFAULTS:
            values[row.key] = row.value
    if has_app_context():
        cfg = current_app.config
        if values["base_url"] in (None, ""):
            values["base_url"] = cfg.get("BASE_URL")
        if values["session_idle_minutes"] in (None, ""):
            values["session_idle_minutes"] = cfg.get("SESSION_IDLE_MINUTES")
        if values["session_absolute_minutes"] in (None, ""):
            values["session_absolute_minutes"] = cfg.get("SESSION_ABSOLUTE_MINUTES")
    values["base_url"] = str(values["base_url"] or "").rstrip("/")
    return values


CACHE_KEY = "registry_settings_cache"


def get_settings() -> dict:
    """All settings with defaults: once per request (or app context), from the per-process cache."""
    if "registry_settings" not in g:
        g.registry_settings = _cached()
    return g.registry_settings


def _cached() -> dict:
    from registry.extensions import db

    ttl = float(current_app.config.get("SETTINGS_CACHE_SECONDS", 5) or 0)
    if ttl <= 0:
        return load(db.session)
    now = time.monotonic()
    entry = current_app.extensions.get(CACHE_KEY)
    if entry is None or entry[0] <= now:
        entry = (now + ttl, load(db.session))
        current_app.extensions[CACHE_KEY] = entry
    return dict(entry[1])  # a copy: a caller that changes its dict cannot change the next request's


def invalidate(*_args) -> None:
    """Forget the cached settings of this process (and of the current request)."""
    if has_app_context():
        current_app.extensions.pop(CACHE_KEY, None)
        g.pop("registry_settings", None)


def _invalidate_when_done(session) -> None:
    """Drop the cache again when the transaction that changed settings commits or rolls back: a request
    that read the settings in between may have cached its own uncommitted values."""
    if not has_app_context():
        return
    real = session() if isinstance(session, scoped_session) else session
    app = current_app._get_current_object()

    def _drop(*_a):
        app.extensions.pop(CACHE_KEY, None)

    for name in ("after_commit", "after_soft_rollback"):
        sa.event.listen(real, name, _drop, once=True)


def get(key: str):
    return get_settings()[key]


def update(session, changes: dict, *, actor) -> dict:
    """Change settings; records one audit event with before and after. Returns the changed keys."""
    from registry.core import audit

    current = load(session)
    before, after = {}, {}
    for key, value in changes.items():
        if key not in DEFAULTS:
            raise KeyError(key)
        if current.get(key) == value:
            continue
        row = session.get(Setting, key)
        if row is None:
            row = Setting(key=key)
            session.add(row)
        row.value = value
        row.updated_by = getattr(actor, "username", "") or ""
        before[key], after[key] = current.get(key), value
    if after:
        session.flush()
        audit.record(session, actor=actor, action="settings.update", entity_type="settings",
                     data={"before": before, "after": after})
    if after:
        invalidate()
        _invalidate_when_done(session)
    elif has_app_context():
        g.pop("registry_settings", None)
    return after
