"""A person taken off their post keeps no way in: their accounts are disabled and their sessions end."""

import sqlalchemy as sa

from registry.auth.models import User
from registry.core.audit import AuditEvent
from registry.extensions import db
from tests.conftest import login


def _user(app, uid) -> User:
    with app.app_context():
        user = db.session.get(User, uid)
        db.session.expunge(user)
        return user


def test_leaving_disables_the_account_and_ends_its_sessions(app, make, as_role, api):
    pid = make.person(category="core")
    staff = as_role("staff", person_id=pid)
    assert staff.get("/").status_code == 200
    officer = api("officer")
    resp = officer.post(f"/api/v1/people/{pid}/leave", json={})
    assert resp.status_code == 200, resp.data[:300]
    assert resp.get_json()["status"] == "left"
    assert _user(app, staff.user_id).active is False
    # the open session is over, and signing in again is refused
    follow = staff.get("/")
    assert follow.status_code == 302 and "/login" in follow.headers["Location"]
    assert login(app.test_client(), staff.username).status_code != 302
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.entity_type == "users", AuditEvent.entity_id == staff.user_id)).all()
    assert "user.update" in actions


def test_decommissioning_also_disables_and_return_does_not_re_enable(app, make, as_role, api):
    pid = make.person(category="core")
    staff = as_role("staff", person_id=pid)
    officer = api("officer")
    resp = officer.post(f"/api/v1/people/{pid}/leave", json={"decommission_until": "2099-01-01"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "decommissioning"
    assert _user(app, staff.user_id).active is False
    back = officer.patch(f"/api/v1/people/{pid}", json={"status": "active"})
    assert back.status_code == 200, back.data[:300]
    assert _user(app, staff.user_id).active is False  # an administrator re-enables it, deliberately


def test_the_last_administrator_cannot_leave_unnoticed(app, make, api):
    pid = make.person(category="core")
    with app.app_context():
        for u in db.session.scalars(sa.select(User).where(User.role == "admin")):
            u.active = False
        db.session.commit()
    make.user("admin", person_id=pid)
    officer = api("officer")
    resp = officer.post(f"/api/v1/people/{pid}/leave", json={})
    assert resp.status_code == 422
    assert "status" in resp.get_json()["error"]["details"]
    with app.app_context():
        assert db.session.scalar(sa.select(User.active).where(User.person_id == pid)) is True
