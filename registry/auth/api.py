"""Token endpoint of the JSON API."""

from __future__ import annotations

from flask import current_app, request
from flask_babel import lazy_gettext as _l

from registry.auth import services
from registry.auth.forms import TokenRequestForm
from registry.core.api import api_blueprint, doc, json_body, register_schema, validate_with
from registry.core.auth import public
from registry.core.db import begin_write
from registry.core.errors import DomainError
from registry.extensions import db, limiter

bp = api_blueprint("auth_api", __name__)

register_schema("Token", {"type": "object", "required": ["token"], "properties": {
    "token": {"type": "string"}, "token_type": {"type": "string"}, "user": {"type": "object"}}})


@bp.post("/auth/token")
@public
@limiter.limit(lambda: current_app.config["RATELIMIT_TOKEN"])
@doc("Exchange user name and password for a bearer token", tags=["auth"], body=TokenRequestForm,
     response="Token", status=201, auth=False, errors=(401, 429))
def create_token():
    form = validate_with(TokenRequestForm, json_body())
    begin_write(db.session)
    try:
        user = services.authenticate(db.session, username=form.username.data, password=form.password.data,
                                     ip=request.remote_addr, config=current_app.config,
                                     totp_code=form.totp.data or None)
    except DomainError:
        db.session.commit()  # keep throttle counters and the login_failed event
        raise
    from registry.core.settings import get_settings

    if get_settings()["require_totp_for_privileged"] and user.has_role("officer") and not user.totp_enabled:
        db.session.commit()
        raise DomainError(_l("Set up two-factor sign-in first (My account)."), code="totp_enrolment_required",
                          status=403)
    token = services.create_token(db.session, user, actor=user, name="api")
    db.session.commit()
    return {"token": token, "token_type": "Bearer", "user": user.as_json()}, 201
