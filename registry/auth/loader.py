"""Flask-Login wiring: cookie sessions resolve through user_sessions; the API also takes bearer tokens."""

from __future__ import annotations

from flask import g, request
from flask_babel import lazy_gettext as _l

from registry.core.auth import bearer_token


def init_login(app, login_manager) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = None  # timeouts and revocation are enforced server-side instead
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(token: str):
        from registry.auth.services import load_session
        from registry.core.settings import get_settings
        from registry.extensions import db

        if request and request.path.startswith("/api/") and bearer_token():
            return None  # an API call with a bearer token never falls back to the cookie
        minutes = int(get_settings()["session_absolute_minutes"])
        return load_session(db.session, token, absolute_minutes=minutes)

    @login_manager.request_loader
    def load_from_bearer(req):
        from registry.auth.services import resolve_token
        from registry.extensions import db

        raw = bearer_token() if req.path.startswith("/api/") else None
        if not raw:
            return None
        user = resolve_token(db.session, raw)
        if user is not None:
            g.auth_via_bearer = True
        return user
