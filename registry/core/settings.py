"""Unit settings kept in the database and edited by administrators (every change audited)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import current_app, g, has_app_context
from sqlalchemy.orm import Mapped, mapped_column

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


def get_settings() -> dict:
    """All settings with defaults, read once per request (or per app context)."""
    from registry.extensions import db

    if "registry_settings" not in g:
        g.registry_settings = load(db.session)
    return g.registry_settings


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
    if has_app_context():
        g.pop("registry_settings", None)
    return after
