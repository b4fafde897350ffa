"""Locale and time-zone selection (zh_CN default, English available; per-user choice)."""

from __future__ import annotations

from flask import current_app, request, session
from flask_login import current_user

SUPPORTED = ("zh_CN", "en")


def normalise(lang: str | None) -> str | None:
    if not lang:
        return None
    lang = lang.replace("-", "_")
    if lang.lower().startswith("zh"):
        return "zh_CN"
    if lang.lower().startswith("en"):
        return "en"
    return None


def select_locale() -> str:
    """User's saved choice, then the session's choice, then the browser, then zh_CN.

    (`?lang=` is not read: on export URLs it chooses the workbook's language, not the page's.)"""
    if not request:
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    user_locale = getattr(current_user, "locale", None) if current_user and current_user.is_authenticated else None
    for candidate in (user_locale, session.get("lang")):
        lang = normalise(candidate)
        if lang:
            return lang
    best = request.accept_languages.best_match(["zh_CN", "zh", "en"])
    return normalise(best) or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    from registry.core.settings import get_settings

    try:
        return get_settings()["timezone"] or "UTC"
    except Exception:
        return "UTC"
