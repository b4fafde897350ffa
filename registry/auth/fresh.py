"""Fresh re-authentication before sensitive changes (role changes, password resets, settings)."""

from __future__ import annotations

import time
from functools import wraps

from flask import current_app, redirect, request, session, url_for


def is_fresh() -> bool:
    at = session.get("reauth_at")
    return at is not None and time.time() - at <= current_app.config["REAUTH_MINUTES"] * 60


def mark_fresh() -> None:
    session["reauth_at"] = int(time.time())


def fresh_required(view):
    """Pages: ask for the password again unless it was entered in the last few minutes.

    Bearer API calls are exempt (the token itself was issued against the password)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        from flask import g

        if g.get("auth_via_bearer") or is_fresh():
            return view(*args, **kwargs)
        from urllib.parse import urlsplit

        from registry.core.urls import safe_next

        if request.method == "GET":
            target = request.path
        else:
            target = safe_next(urlsplit(request.referrer or "").path, "/")
        return redirect(url_for("auth.reauth", next=target))

    wrapped.required_roles = getattr(view, "required_roles", None)
    return wrapped
