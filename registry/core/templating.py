"""Jinja helpers: translated labels, local times, level badges, navigation per role."""

from __future__ import annotations

from datetime import date, datetime

from flask import request, url_for
from flask_babel import format_date, format_datetime, get_locale
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from registry.core.models import Category, Level


def localtime(value, fmt: str = "short"):
    if value is None:
        return ""
    if isinstance(value, datetime):
        return format_datetime(value, "yyyy-MM-dd HH:mm")
    if isinstance(value, date):
        return format_date(value, "yyyy-MM-dd")
    return value


def enum_label(value, enum_cls=None):
    """The translated label of an enum member or key."""
    if value is None or value == "":
        return ""
    label = getattr(value, "label", None)
    if label is not None:
        return label
    if enum_cls is not None:
        try:
            return enum_cls(value).label
        except ValueError:
            return value
    return value


def audit_changes(data) -> list[tuple[str, object, object, bool]]:
    """(field, before, after, is_change) rows for an audit event's data, for the history tables."""
    if not isinstance(data, dict):
        return []
    before, after = data.get("before"), data.get("after")
    rows = []
    if isinstance(after, dict):
        for key, value in after.items():
            old = before.get(key) if isinstance(before, dict) else None
            rows.append((key, old, value, isinstance(before, dict)))
        extra = {k: v for k, v in data.items() if k not in ("before", "after")}
    else:
        extra = data
    for key, value in extra.items():
        if value not in (None, "", [], {}):
            rows.append((key, None, value, False))
    return rows


def expiry_class(value, warn_days: int = 30) -> str:
    """'expired' / 'expiring' / '' for a date, for highlighting letters and periods."""
    if not value:
        return ""
    from registry.people.services import unit_today

    today = unit_today()  # the unit's date, not the server's
    if value < today:
        return "expired"
    if (value - today).days <= warn_days:
        return "expiring"
    return ""


def page_url(page: int) -> str:
    args = request.args.to_dict()
    args["page"] = page
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def html_lang() -> str:
    return "zh-CN" if str(get_locale()).startswith("zh") else "en"


def register(app) -> None:
    from registry.core.navigation import navigation
    from registry.core.settings import get_settings

    app.jinja_env.globals.update(
        get_locale=get_locale, html_lang=html_lang, csrf_token=generate_csrf, nav=navigation,
        settings=get_settings, page_url=page_url, Level=Level, Category=Category,
    )
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["label"] = enum_label
    app.jinja_env.filters["audit_changes"] = audit_changes
    app.jinja_env.filters["expiry_class"] = expiry_class
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    _ = Markup, current_user
