"""The audit trail records each kind of action once, with who, what, when and where
(SECURITY-RESEARCH §7 item 41), and a user-typed value cannot forge a log line (item 44).

Edits, deletions, swaps and truncation of the chain are covered by tests/core/test_audit.py;
200 parallel appends across gunicorn workers by tests/hardening/test_concurrency.py.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from registry.core.audit import AuditEvent
from registry.core.security_events import SecurityEvent
from registry.extensions import db
from tests.conftest import PASSWORD, login

CRLF_NAME = "alice\r\n2025-01-01 officer LOGIN OK"
WRONG_PASSWORD = "Wrong-Horse-Battery-9"


def _new_events(app, since: int) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.seq > since).order_by(AuditEvent.seq)).all()
        db.session.expunge_all()
        return rows


def _head(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.seq), 0)))


class Recorder:
    """Run one action and return the audit events it appended."""

    def __init__(self, app):
        self.app = app

    def __call__(self, action):
        before = _head(self.app)
        result = action()
        return result, _new_events(self.app, before)


def _check_event(event: AuditEvent, *, action: str, actor: str, entity_type: str | None = None,
                 entity_id: int | None = None):
    assert event.action == action, event.action
    assert event.actor == actor
    assert event.at.tzinfo is not None and event.at.utcoffset() == timedelta(0), event.at
    assert abs(datetime.now(timezone.utc) - event.at) < timedelta(seconds=30)
    assert event.ip == "127.0.0.1", event.ip  # where: the client address of the request
    assert event.via in ("web", "api")
    if entity_type is not None:
        assert event.entity_type == entity_type and event.entity_id == entity_id, (event.entity_type, event.entity_id)


@pytest.fixture
def rec(app):
    return Recorder(app)


def test_sign_in_ok_and_failed(app, client, make, rec):
    uid = make.user("staff", username="audit-anna")
    resp, events = rec(lambda: login(client, "audit-anna"))
    assert resp.status_code == 302
    assert len(events) == 1
    _check_event(events[0], action="user.login", actor="audit-anna", entity_type="users", entity_id=uid)

    other = app.test_client()
    resp, events = rec(lambda: login(other, "audit-anna", WRONG_PASSWORD))
    assert resp.status_code == 401
    assert len(events) == 1
    _check_event(events[0], action="security.login_failed", actor="system")
    assert events[0].entity_type == "security_events"
    assert events[0].data["subject"] == "audit-anna" and events[0].data["reason"] == "unauthenticated"


def test_refused_by_role_gate_is_recorded(as_role, api, rec):
    """A 403 from a role gate leaves one trace, on pages and in the API alike."""
    staff = as_role("staff")
    resp, events = rec(lambda: staff.get("/admin/users"))
    assert resp.status_code == 403
    assert [e.action for e in events] == ["security.access_denied"]
    _check_event(events[0], action="security.access_denied", actor=staff.username)
    assert events[0].data["details"]["path"] == "/admin/users" and events[0].data["reason"] == "forbidden"

    inspector = api("inspector")
    resp, events = rec(lambda: inspector.post("/api/v1/rooms", json={"code": "X", "name": "Y"}))
    assert resp.status_code == 403 and resp.get_json()["error"]["details"] == {}  # nothing internal in the answer
    assert [e.action for e in events] == ["security.access_denied"]
    assert events[0].data["details"]["method"] == "POST" and events[0].via == "api"


def test_checkout_and_return(app, api, make, rec):
    officer = api("officer")
    name = _username(app, officer.user_id)
    borrower = make.person(category="important")
    asset = officer.post("/api/v1/assets", json={"kind": "media", "subtype": "paper", "level": "internal",
                                                 "title": "Audit item"}).get_json()["id"]
    resp, events = rec(lambda: officer.post(f"/api/v1/assets/{asset}/checkout",
                                            json={"borrower_id": borrower, "purpose": "audit"}))
    assert resp.status_code == 201
    assert [e.action for e in events] == ["asset.checkout"]
    _check_event(events[0], action="asset.checkout", actor=name, entity_type="assets", entity_id=asset)
    resp, events = rec(lambda: officer.post(f"/api/v1/assets/{asset}/checkin", json={"condition": "intact"}))
    assert resp.status_code == 200
    assert [e.action for e in events] == ["asset.checkin"]
    _check_event(events[0], action="asset.checkin", actor=name, entity_type="assets", entity_id=asset)


def test_label_reprint(app, api, rec):
    officer = api("officer")
    asset = officer.post("/api/v1/assets", json={"kind": "media", "subtype": "paper", "level": "internal",
                                                 "title": "Reprint"}).get_json()["id"]
    resp, events = rec(lambda: officer.post(f"/api/v1/assets/{asset}/label", json={"reason": "damaged"}))
    assert resp.status_code in (200, 201), resp.data[:300]
    assert [e.action for e in events] == ["asset.label_reissue"]
    _check_event(events[0], action="asset.label_reissue", actor=_username(app, officer.user_id),
                 entity_type="assets", entity_id=asset)


def test_visitor_in_and_out(app, api, make, rec):
    guard = api("guard")
    name = _username(app, guard.user_id)
    room = make.room(level="internal", foreign_policy="open")
    visitor = make.visitor(nationality="CN")
    resp, events = rec(lambda: guard.post("/api/v1/visits", json={"visitor_id": visitor, "room_id": room}))
    assert resp.status_code == 201, resp.data[:300]
    visit = resp.get_json()["id"]
    assert [e.action for e in events] == ["visit.enter"]
    _check_event(events[0], action="visit.enter", actor=name)
    resp, events = rec(lambda: guard.post(f"/api/v1/visits/{visit}/exit"))
    assert resp.status_code == 200
    assert [e.action for e in events] == ["visit.exit"]
    _check_event(events[0], action="visit.exit", actor=name)


def test_role_change(app, as_role, make, rec):
    admin = as_role("admin")
    target = make.user("staff")
    resp, events = rec(lambda: admin.post(f"/admin/users/{target}", data={"role": "officer", "active": "y"}))
    assert resp.status_code == 302
    assert [e.action for e in events] == ["user.update"]
    _check_event(events[0], action="user.update", actor=admin.username, entity_type="users", entity_id=target)
    assert events[0].data == {"before": {"role": "staff"}, "after": {"role": "officer"}}


def test_export(app, api, make, rec):
    make.room()
    officer = api("officer")
    resp, events = rec(lambda: officer.get("/api/v1/exports/rooms.xlsx"))
    assert resp.status_code == 200
    assert [e.action for e in events] == ["export.rooms"]
    _check_event(events[0], action="export.rooms", actor=_username(app, officer.user_id), entity_type="export")
    assert len(events[0].data["sha256"]) == 64 and events[0].data["rows"] >= 1


def test_no_secrets_in_the_trail(app, client, make, api):
    """Passwords, bearer tokens and session tokens never reach the audit or security-event tables."""
    make.user("officer", username="secret-sam")
    login(client, "secret-sam")
    login(app.test_client(), "secret-sam", WRONG_PASSWORD)
    token = client.post("/api/v1/auth/token", json={"username": "secret-sam", "password": PASSWORD}).get_json()["token"]
    with app.app_context():
        from registry.auth.models import UserSession

        session_hashes = db.session.scalars(sa.select(UserSession.token_hash)).all()
        text = json.dumps([[e.actor, e.action, e.data] for e in db.session.scalars(sa.select(AuditEvent))]
                          + [[e.subject, e.details] for e in db.session.scalars(sa.select(SecurityEvent))],
                          ensure_ascii=False, default=str)
    for secret in [PASSWORD, WRONG_PASSWORD, token, token[4:20], *session_hashes]:
        assert secret not in text


def _username(app, uid):
    with app.app_context():
        from registry.auth.models import User

        return db.session.get(User, uid).username


# ------------------------------------------------------------------ log injection (item 44)

def test_crlf_username_is_one_escaped_record(app, client, api, as_role, make, rec):
    make.user("officer", username="alice")
    resp, events = rec(lambda: client.post("/login", data={"username": CRLF_NAME, "password": WRONG_PASSWORD}))
    assert resp.status_code == 401  # an ordinary failed sign-in: counted, throttled, recorded
    assert len(events) == 1 and events[0].action == "security.login_failed"
    escaped = "alice\\r\\n2025-01-01 officer LOGIN OK"
    with app.app_context():
        (event,) = db.session.scalars(sa.select(SecurityEvent).where(SecurityEvent.kind == "login_failed")).all()
        assert event.subject == escaped
    assert events[0].data["subject"] == escaped

    officer = api("officer")
    listed = officer.get("/api/v1/security-events?kind=login_failed").get_json()["items"]
    assert [e["subject"] for e in listed] == [escaped]

    page = as_role("officer").get("/security-events").get_data(as_text=True)
    assert escaped in page and CRLF_NAME not in page

    export = officer.get("/api/v1/exports/security-events.xlsx")
    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.data)) as z:
        sheets = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/")
                         or n == "xl/sharedStrings.xml")
    assert "officer LOGIN OK" in sheets
    assert "alice\r\n" not in sheets and "alice&#13;" not in sheets and "alice\n" not in sheets


def test_crlf_in_path_cannot_forge_a_log_line(app, api, caplog):
    @app.get("/api/v1/boom/<rest>")
    def boom(rest):
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="registry"):
        resp = api("officer").get("/api/v1/boom/x%0d%0a2025-01-01 INFO registry: forged")
    assert resp.status_code == 500
    (record,) = [r for r in caplog.records if "unhandled error" in r.getMessage()]
    first_line = record.getMessage().split("\n", 1)[0]
    assert "forged" in first_line  # the whole path stays on the line that reports it
