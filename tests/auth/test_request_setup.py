"""The per-request identity checks stay complete after they were made cheaper (issue 8).

One statement per request loads the user of a live session or bearer token; every way a session or a
token ends must still end it on the next request. The session cookie is re-signed only when its
"last seen" time moves (at most once per SESSION_SEEN_REFRESH_SECONDS), not on every response.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.auth import services
from registry.auth.models import ApiToken, User, UserSession
from registry.core.models import utcnow
from registry.extensions import db


def _statements(app, fn):
    seen = []

    def _count(conn, cursor, statement, *args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", _count)
    try:
        resp = fn()
    finally:
        sa.event.remove(engine, "before_cursor_execute", _count)
    return resp, seen


def test_a_signed_in_request_costs_one_identity_statement(app, as_role):
    c = as_role("officer")
    resp, stmts = _statements(app, lambda: c.get("/healthz"))
    assert resp.status_code == 200
    identity = [s for s in stmts if "user_sessions" in s]
    assert len(identity) == 1, stmts
    assert "persons" not in identity[0]  # the person is loaded only by the rules that need it


def test_the_identity_statements_leave_the_credentials_unread(app, as_role, api):
    """Neither the session's nor the token's statement selects the password hash, the TOTP secret or
    the recovery codes; they load when a page needs them (tests/auth: the password change still checks
    the old password, TOTP sign-in its secret)."""
    c = as_role("officer")
    for client in (c, api("officer")):
        path = "/healthz" if client is c else "/api/v1/people"
        _resp, stmts = _statements(app, lambda: client.get(path))
        identity = [s for s in stmts if "user_sessions" in s or "api_tokens" in s]
        assert len(identity) == 1
        assert "users.username" in identity[0]
        for column in ("password_hash", "totp_secret", "recovery_codes"):
            assert column not in identity[0], identity[0]


def test_bearer_request_costs_one_identity_statement(app, api):
    officer = api("officer")
    resp, stmts = _statements(app, lambda: officer.get("/api/v1/people"))
    assert resp.status_code == 200
    assert len([s for s in stmts if "api_tokens" in s]) == 1, stmts


def test_staff_person_still_loads_for_the_visibility_rules(app, as_role, make):
    """The staff member's own person (clearance, department) still decides what they see."""
    pid = make.person(category="general")  # internal clearance only
    staff = as_role("staff", person_id=pid)
    with app.app_context():
        from tests.assets import helpers as h

        secret = h.asset(level="secret").id
        internal = h.asset(level="internal").id
        db.session.commit()
    assert staff.get(f"/items/{internal}").status_code == 200
    assert staff.get(f"/items/{secret}").status_code == 404


def test_revoked_session_row_ends_the_session(app, as_role):
    c = as_role("staff")
    with app.app_context():
        db.session.execute(sa.update(UserSession).values(revoked_at=utcnow()))
        db.session.commit()
    assert c.get("/").status_code == 302


def test_session_version_bump_ends_the_session(app, as_role):
    c = as_role("staff")
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == c.user_id).values(session_version=User.session_version + 1))
        db.session.commit()
    assert c.get("/").status_code == 302


def test_session_just_inside_the_absolute_lifetime_still_works(app, as_role):
    c = as_role("staff")
    minutes = app.config["SESSION_ABSOLUTE_MINUTES"]
    with app.app_context():
        db.session.execute(sa.update(UserSession).values(created_at=utcnow() - timedelta(minutes=minutes - 1)))
        db.session.commit()
    assert c.get("/").status_code == 200
    with app.app_context():
        db.session.execute(sa.update(UserSession).values(created_at=utcnow() - timedelta(minutes=minutes + 1)))
        db.session.commit()
    assert c.get("/").status_code == 302


@pytest.mark.parametrize("change", ["revoked", "expired", "disabled"])
def test_bearer_token_ends(app, api, change):
    officer = api("officer")
    assert officer.get("/api/v1/people").status_code == 200
    with app.app_context():
        if change == "revoked":
            db.session.execute(sa.update(ApiToken).values(revoked_at=utcnow()))
        elif change == "expired":
            db.session.execute(sa.update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        else:
            services.update_user(db.session, db.session.get(User, officer.user_id), actor=None, active=False)
        db.session.commit()
    assert officer.get("/api/v1/people").status_code == 401


def test_unexpired_token_works(app, api):
    officer = api("officer")
    with app.app_context():
        db.session.execute(sa.update(ApiToken).values(expires_at=utcnow() + timedelta(minutes=5)))
        db.session.commit()
    assert officer.get("/api/v1/people").status_code == 200


def _set_cookie_headers(resp):
    return [v for k, v in resp.headers.items() if k.lower() == "set-cookie" and "registry_session" in v]


def test_cookie_not_resigned_on_every_response(app, as_role):
    c = as_role("officer")
    c.get("/")
    resp = c.get("/")
    assert resp.status_code == 200
    assert _set_cookie_headers(resp) == []  # nothing changed: the cookie is not re-signed and re-sent


def test_cookie_seen_time_moves_after_the_refresh_interval(app, as_role):
    c = as_role("officer")
    refresh = app.config["SESSION_SEEN_REFRESH_SECONDS"]
    with c.session_transaction() as sess:
        sess["seen"] = int(time.time()) - refresh - 1
    resp = c.get("/")
    assert resp.status_code == 200
    assert _set_cookie_headers(resp)
    with c.session_transaction() as sess:
        assert int(time.time()) - sess["seen"] <= 2
