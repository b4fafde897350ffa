"""Request lifecycle: identity, session timeouts, CSRF, security headers and error answers."""

from __future__ import annotations

import logging
import secrets
import time
import traceback
import uuid

from flask import current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from registry.core import context
from registry.core.auth import Unauthenticated, bearer_token, is_api_request
from registry.core.db import begin_request, reset_write_intent
from registry.core.errors import DomainError, Forbidden, RuleViolation
from registry.extensions import csrf, db

log = logging.getLogger("registry")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

STATUS_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 410: "gone", 413: "too_large",
                415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
                500: "internal_error", 503: "unavailable"}

CSRF_EXEMPT_PATHS = {"/api/v1/auth/token"}


def error_body(code: str, message, details=None) -> dict:
    return {"error": {"code": code, "message": str(message), "details": details or {}}}


def json_error(status: int, code: str, message, details=None):
    resp = jsonify(error_body(code, message, details))
    resp.status_code = status
    return resp


def init_request():
    """Runs before every request: who is asking, through which channel, and CSRF."""
    g.request_id = uuid.uuid4().hex[:12]
    reset_write_intent()  # a request starts with none forced (a CLI command or a test may have left one)
    if request.endpoint != "static":
        begin_request(db.session)  # PostgreSQL: a read request's statements without BEGIN/ROLLBACK
    context.set_request_facts(request.remote_addr, "api" if is_api_request() else "web")
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and (request.content_length or 0) > limit:
        # refused before anything else, whether or not the view would read the body
        raise RequestEntityTooLarge()
    if "\x00" in request.path or any("\x00" in v for _k, vs in request.args.lists() for v in vs):
        # a NUL in a URL is never data (PostgreSQL cannot even compare text with it): 400 for every route
        raise BadRequest(_("The request contains a NUL character."))
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and current_app.config.get("WTF_CSRF_ENABLED", True):
        if not (is_api_request() and (bearer_token() or request.path in CSRF_EXEMPT_PATHS)):
            csrf.protect()
    if current_user.is_authenticated and not g.get("auth_via_bearer"):
        _enforce_idle_timeout()
        return _enforce_totp_enrolment()


TOTP_EXEMPT_ENDPOINTS = {"auth.totp", "auth.logout", "auth.language", "static", "core.healthz"}


def _enforce_totp_enrolment():
    """With the setting on, administrators and officers must enrol a second factor before anything else."""
    from registry.core.settings import get_settings

    if current_user.totp_enabled or not current_user.has_role("officer"):
        return None
    if not get_settings()["require_totp_for_privileged"] or request.endpoint in TOTP_EXEMPT_ENDPOINTS:
        return None
    if is_api_request():
        return json_error(403, "totp_enrolment_required", _("Set up two-factor sign-in first (My account)."))
    flash(_("Your role requires two-factor sign-in. Set up an authenticator app to continue."), "warning")
    return redirect(url_for("auth.totp"))


def _enforce_idle_timeout():
    from registry.core.settings import get_settings

    idle = int(get_settings()["session_idle_minutes"]) * 60
    now = int(time.time())
    seen = session.get("seen")
    if seen is not None and now - int(seen) > idle:
        logout_user()
        session.clear()
        raise Unauthenticated(_("Your session has expired. Please sign in again."))
    # The cookie is only re-signed (and re-sent) when "seen" moves, at most once per
    # SESSION_SEEN_REFRESH_SECONDS: the idle timeout ends a session between idle - refresh and idle.
    if seen is None or now - int(seen) >= int(current_app.config.get("SESSION_SEEN_REFRESH_SECONDS", 60)):
        session["seen"] = now


def add_security_headers(resp):
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not request.path.startswith("/static/"):
        resp.headers["Cache-Control"] = "no-store"
    if current_app.config.get("HTTPS"):
        resp.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return resp


def teardown(exc):
    reset_write_intent()


def _wants_json() -> bool:
    """API paths, the health check, and any client that presents a bearer token (e.g. for the
    documented label images) get JSON errors; browsers get the error page."""
    return is_api_request() or request.path in ("/healthz",) or bearer_token() is not None


def handle_domain_error(exc: DomainError):
    db.session.rollback()
    # A refused rule, and a signed-in user refused by a role or object gate, leave a trace
    # (SPEC §4 "denials are always recorded"; ASVS 16.3.2 failed authorisation is logged).
    # `hidden`: a record the user may not see, answered like a missing one (errors.NotVisible)
    denied = (isinstance(exc, Forbidden) or getattr(exc, "hidden", False)) and current_user.is_authenticated
    if isinstance(exc, RuleViolation) or denied:
        from registry.core.security_events import record_refusal

        try:
            if isinstance(exc, RuleViolation):
                record_refusal(db.session, exc, actor=current_user if current_user.is_authenticated else None)
            else:
                record_refusal(db.session, exc, actor=current_user, kind="access_denied",
                               details={"method": request.method, "path": request.path[:200],
                                        "endpoint": request.endpoint})
        except Exception:  # never let the trace of a refusal hide the refusal itself
            db.session.rollback()
            log.exception("could not record refusal %s", exc.code)
    if isinstance(exc, Unauthenticated) and not _wants_json():
        if str(exc.message) != str(Unauthenticated.message):
            flash(str(exc.message), "warning")
        return redirect(url_for("auth.login", next=_safe_current_path()))
    if _wants_json():
        resp = json_error(exc.status, exc.code, exc.message, exc.details)
        if exc.status == 429 and exc.details.get("retry_after"):
            resp.headers["Retry-After"] = str(exc.details["retry_after"])
        return resp
    return render_template("errors/error.html", status=exc.status, code=exc.code, message=str(exc.message),
                           details=exc.details), exc.status


def _safe_current_path() -> str | None:
    from registry.core.urls import safe_next

    path = request.full_path if request.query_string else request.path
    return safe_next(path) if request.method == "GET" else None


def handle_http_error(exc: HTTPException):
    status = exc.code or 500
    code = STATUS_CODES.get(status, "error")
    if isinstance(exc, CSRFError):
        message = _("The form has expired or is missing its security token. Reload the page and try again.")
    elif status == 413:
        message = _("The request is too large.")
    elif status == 429:
        message = _("Too many requests. Try again later.")
    elif status == 404:
        message = _("Not found.")
    elif status == 405:
        message = _("This method is not allowed here.")
    else:
        message = exc.description or exc.name
    if _wants_json():
        resp = json_error(status, code, message)
        if status == 405 and getattr(exc, "valid_methods", None):
            resp.headers["Allow"] = ", ".join(exc.valid_methods)
        return resp
    return render_template("errors/error.html", status=status, code=code, message=message), status


def handle_unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return handle_http_error(exc)
    if isinstance(exc, DomainError):
        return handle_domain_error(exc)
    incident = secrets.token_hex(6)
    # %r: a path with CR/LF in it cannot start a forged line in the log
    log.error("unhandled error %s on %s %r\n%s", incident, request.method, request.path, traceback.format_exc())
    try:
        db.session.rollback()
    except Exception:
        pass
    message = _("An unexpected error occurred. Reference: %(ref)s", ref=incident)
    if _wants_json():
        return json_error(500, "internal_error", message, {"incident": incident})
    return render_template("errors/error.html", status=500, code="internal_error", message=message), 500


def register(app):
    app.before_request(init_request)
    app.after_request(add_security_headers)
    app.teardown_request(teardown)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
