"""Personnel: commitment letters, 清退 (holds_items) through service, page, API and CLI with real checkouts,
leaving and the decommissioning period, reminders and their acknowledgement, training records."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from registry.core.errors import Conflict, Forbidden, RuleViolation, ValidationFailed
from registry.extensions import db
from registry.people import services
from registry.people.models import Person, PersonStatus
from tests.people import helpers as h

TODAY = date.today()


def _get(pid) -> Person:
    db.session.expire_all()
    return db.session.get(Person, pid)


# ------------------------------------------------------------------ commitment letters

@pytest.mark.parametrize("category, signed, expires, state", [
    ("important", None, None, "missing"),
    ("none", None, None, "not_required"),
    ("general", -400, -1, "expired"),
    ("general", -300, 0, "expiring"),
    ("general", -300, 30, "expiring"),
    ("general", -300, 31, "valid"),
    ("core", -10, None, "valid"),
])
def test_commitment_state(category, signed, expires, state):
    import registry.models_all  # noqa: F401  (every model mapped: Person's relationships resolve without an app)

    p = Person(category=category, commitment_signed_on=TODAY + timedelta(days=signed) if signed is not None else None,
               commitment_expires_on=TODAY + timedelta(days=expires) if expires is not None else None)
    assert p.commitment_state(TODAY, 30) == state


def test_commitments_query_lists_what_needs_attention(ctx):
    ok = h.person(name="Valid")
    soon = h.person(name="Soon", commitment_expires_on=TODAY + timedelta(days=10))
    gone = h.person(name="Gone", commitment_signed_on=TODAY - timedelta(days=800),
                    commitment_expires_on=TODAY - timedelta(days=5))
    unsigned = h.person(name="Unsigned", commitment_signed_on=None, commitment_expires_on=None)
    h.person(name="Uncleared", category="none", commitment_signed_on=None, commitment_expires_on=None)
    left = h.person(name="Left", commitment_expires_on=TODAY - timedelta(days=1))
    services.leave(db.session, left, actor=None, home_country="CN", today=TODAY)
    names = [p.name for p in db.session.scalars(services.commitments_query(today=TODAY, within_days=30))]
    assert names == ["Unsigned", "Gone", "Soon"]
    assert services.commitment_counts(db.session, today=TODAY, within_days=30) == {
        "missing": 1, "expired": 1, "expiring": 1}
    assert ok.commitment_state(TODAY) == "valid" and soon.commitment_state(TODAY) == "expiring"
    assert gone.commitment_state(TODAY) == "expired" and unsigned.commitment_state(TODAY) == "missing"


def test_commitments_page_api_and_cli(app, as_role, api, runner):
    with app.app_context():
        h.person(name="Soon Expiring", employee_no="CX1", commitment_expires_on=TODAY + timedelta(days=12))
        db.session.commit()
    page = as_role("inspector").get("/people/commitments?within=30")
    assert page.status_code == 200 and "Soon Expiring" in page.get_data(as_text=True)
    body = api("approver").get("/api/v1/people/commitments?within=30").get_json()
    assert [(i["employee_no"], i["state"], i["days_left"]) for i in body["items"]] == [("CX1", "expiring", 12)]
    assert api("officer").get("/api/v1/people/commitments?within=5").get_json()["total"] == 0
    assert api("staff").get("/api/v1/people/commitments").status_code == 403
    out = runner.invoke(args=["people", "commitments", "--within", "30"])
    assert out.exit_code == 0 and "CX1" in out.output and "expiring" in out.output


# ------------------------------------------------------------------ 清退: holds_items

@pytest.fixture
def holder(ctx):
    """A person (important: secret clearance) holding a confidential item, and the officer who lent it."""
    officer = h.user("officer")
    p = h.person()
    item = h.asset(level="confidential")
    h.checkout(item, p, officer)
    db.session.commit()
    return {"person": p, "item": item, "officer": officer}


@pytest.mark.parametrize("change", [
    {"status": "left"},
    {"status": "decommissioning", "decommission_until": TODAY + timedelta(days=365)},
    {"category": "none"},          # clearance internal < confidential item
    {"nationality": "DE"},         # a foreign national is never cleared above internal
])
def test_update_refused_while_holding_items(holder, change):
    p = holder["person"]
    with pytest.raises(RuleViolation) as exc:
        services.update_person(db.session, p, change, actor=holder["officer"], home_country="CN")
    assert exc.value.code == "holds_items" and exc.value.status == 403
    assert exc.value.details["items"] == [holder["item"].registry_no]
    assert exc.value.event_kind == "person_change_denied"


@pytest.mark.parametrize("until", [None, TODAY + timedelta(days=400)])
def test_leave_refused_then_allowed_after_return(holder, until):
    from registry.assets import services as custody

    p, officer = holder["person"], holder["officer"]
    with pytest.raises(RuleViolation) as exc:
        services.leave(db.session, p, actor=officer, home_country="CN", today=TODAY, decommission_until=until)
    assert exc.value.code == "holds_items"
    db.session.rollback()
    custody.checkin(db.session, holder["item"], actor=officer, condition="intact")
    services.leave(db.session, p, actor=officer, home_country="CN", today=TODAY, decommission_until=until)
    assert p.status == (PersonStatus.DECOMMISSIONING if until else PersonStatus.LEFT)
    assert p.left_on == TODAY and p.decommission_until == until
    assert "person.update" in h.audit_actions("person.")


def test_lower_category_allowed_when_items_within_new_clearance(holder):
    services.update_person(db.session, holder["person"], {"category": "general"}, actor=holder["officer"],
                           home_country="CN")
    assert holder["person"].category.value == "general"  # confidential item, confidential clearance


@pytest.mark.parametrize("kwargs, field", [
    ({"left_on": TODAY, "decommission_until": TODAY}, "decommission_until"),
    ({"left_on": TODAY, "decommission_until": TODAY - timedelta(days=1)}, "decommission_until"),
])
def test_leave_validation(ctx, kwargs, field):
    p = h.person()
    with pytest.raises(ValidationFailed) as exc:
        services.leave(db.session, p, actor=None, home_country="CN", today=TODAY, **kwargs)
    assert field in exc.value.details


def test_leaving_twice_is_refused(ctx):
    p = h.person()
    services.leave(db.session, p, actor=None, home_country="CN", today=TODAY)
    with pytest.raises(RuleViolation) as exc:
        services.leave(db.session, p, actor=None, home_country="CN", today=TODAY)
    assert exc.value.code == "invalid_transition"


def test_finish_decommissioning(ctx):
    ended = h.person()
    running = h.person()
    services.leave(db.session, ended, actor=None, home_country="CN", today=TODAY - timedelta(days=30),
                   decommission_until=TODAY - timedelta(days=1))
    services.leave(db.session, running, actor=None, home_country="CN", today=TODAY,
                   decommission_until=TODAY + timedelta(days=10))
    done = services.finish_decommissioning(db.session, actor=None, today=TODAY, home_country="CN")
    assert [p.id for p in done] == [ended.id]
    assert ended.status == PersonStatus.LEFT and running.status == PersonStatus.DECOMMISSIONING


def _holder_ids(app):
    with app.app_context():
        officer = h.user("officer")
        p = h.person(employee_no=f"H{h._n.__next__():05d}")
        item = h.asset(level="confidential")
        h.checkout(item, p, officer)
        db.session.commit()
        return p.id, p.employee_no, item.id, item.registry_no


def test_leave_page_refused_and_recorded(app, as_role):
    pid, _no, _iid, reg = _holder_ids(app)
    officer = as_role("officer")
    page = officer.get(f"/people/{pid}/holdings").get_data(as_text=True)
    assert reg in page and "Record leaving" in page
    resp = officer.post(f"/people/{pid}/leave", data={"left_on": TODAY.isoformat()}, follow_redirects=True)
    assert resp.status_code == 200 and "holds_items" in resp.get_data(as_text=True)
    with app.app_context():
        assert _get(pid).status == PersonStatus.ACTIVE
        assert [e.subject_id for e in h.events("person_change_denied", "holds_items")] == [pid]
    # the edit form refuses the same change the same way
    resp = officer.post(f"/people/{pid}/edit", data={"name": "X", "employee_no": "EX1", "nationality": "CN",
                                                     "category": "important", "status": "left"})
    assert resp.status_code == 200 and "holds_items" in resp.get_data(as_text=True)


def test_leave_page_after_return(app, as_role):
    from registry.assets import services as custody
    from registry.assets.models import Asset

    pid, _no, iid, _reg = _holder_ids(app)
    with app.app_context():
        custody.checkin(db.session, db.session.get(Asset, iid), actor=None, condition="intact")
        db.session.commit()
    until = TODAY + timedelta(days=365)
    resp = as_role("officer").post(f"/people/{pid}/leave", data={"left_on": TODAY.isoformat(),
                                                                 "decommission_until": until.isoformat()})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/people/{pid}")
    with app.app_context():
        p = _get(pid)
        assert p.status == PersonStatus.DECOMMISSIONING and p.decommission_until == until


@pytest.mark.parametrize("path, body", [
    ("/api/v1/people/{pid}/leave", {}),
    ("/api/v1/people/{pid}/leave", {"decommission_until": (TODAY + timedelta(days=90)).isoformat()}),
])
def test_leave_api_refused(app, api, path, body):
    pid, _no, _iid, reg = _holder_ids(app)
    officer = api("officer")
    held = officer.get(f"/api/v1/people/{pid}/holdings").get_json()
    assert held["may_leave"] is False and [i["registry_no"] for i in held["items"]] == [reg]
    assert held["items"][0]["due_at"] is not None
    resp = officer.post(path.format(pid=pid), json=body)
    assert resp.status_code == 403
    err = resp.get_json()["error"]
    assert err["code"] == "holds_items" and err["details"]["items"] == [reg]
    patch = officer.patch(f"/api/v1/people/{pid}", json={"status": "left"})
    assert patch.status_code == 403 and patch.get_json()["error"]["code"] == "holds_items"
    with app.app_context():
        assert len(h.events("person_change_denied", "holds_items")) == 2


def test_leave_api_ok_and_roles(app, api):
    with app.app_context():
        pid = h.person().id
        db.session.commit()
    assert api("inspector").post(f"/api/v1/people/{pid}/leave", json={}).status_code == 403
    resp = api("officer").post(f"/api/v1/people/{pid}/leave", json={"left_on": TODAY.isoformat()})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "left" and resp.get_json()["left_on"] == TODAY.isoformat()
    bad = api("officer").post(f"/api/v1/people/{pid}/leave", json={})
    assert bad.status_code == 409 and bad.get_json()["error"]["code"] == "invalid_transition"


def test_leave_cli(app, runner):
    pid, no, iid, reg = _holder_ids(app)
    out = runner.invoke(args=["people", "leave", no])
    assert out.exit_code == 1 and "holds_items" in out.output and reg in out.output
    with app.app_context():
        assert len(h.events("person_change_denied", "holds_items")) == 1
        from registry.assets import services as custody
        from registry.assets.models import Asset

        custody.checkin(db.session, db.session.get(Asset, iid), actor=None, condition="intact")
        db.session.commit()
    until = (TODAY + timedelta(days=200)).isoformat()
    out = runner.invoke(args=["people", "leave", no, "--decommission-until", until])
    assert out.exit_code == 0, out.output
    assert f"decommissioning until {until}" in out.output
    listing = runner.invoke(args=["people", "list", "--status", "decommissioning"])
    assert listing.exit_code == 0 and no in listing.output and "1 people" in listing.output
    assert runner.invoke(args=["people", "leave", "NOPE-1"]).exit_code == 1


def test_finish_decommissioning_cli(app, runner):
    with app.app_context():
        p = h.person()
        services.leave(db.session, p, actor=None, home_country="CN", today=TODAY - timedelta(days=10),
                       decommission_until=TODAY - timedelta(days=1))
        db.session.commit()
        no = p.employee_no
    out = runner.invoke(args=["people", "finish-decommissioning"])
    assert out.exit_code == 0 and f"{no}" in out.output and "1 decommissioning periods ended" in out.output


# ------------------------------------------------------------------ reminders

@pytest.fixture
def reminder_world(app):
    with app.app_context():
        p = h.person()
        other = h.person()
        r = services.add_reminder(db.session, p, {"date": TODAY, "occasion": "trip", "given_by": other.id,
                                                  "description": "Trip to Berlin", "acknowledged": False}, actor=None)
        db.session.commit()
        return {"pid": p.id, "other": other.id, "rid": r.id}


def test_person_acknowledges_own_reminder_via_api(app, api, reminder_world):
    w = reminder_world
    own = api("staff", person_id=w["pid"])
    resp = own.post(f"/api/v1/reminders/{w['rid']}/acknowledge")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["acknowledged"] is True and body["acknowledged_at"] and body["acknowledged_by"].startswith("staff")
    again = own.post(f"/api/v1/reminders/{w['rid']}/acknowledge")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_acknowledged"
    with app.app_context():
        assert h.audit_actions("reminder.") == ["reminder.create", "reminder.acknowledge"]


# another staff member's reminder answers like a missing one (404, no existence oracle; recorded as
# an access denial: tests/hardening/test_idor.py); the inspector reads every reminder: a plain 403
@pytest.mark.parametrize("who, status", [("other_staff", 404), ("inspector", 403), ("officer", 200)])
def test_who_may_acknowledge(app, api, reminder_world, who, status):
    w = reminder_world
    client = api("staff", person_id=w["other"]) if who == "other_staff" else api(who)
    assert client.post(f"/api/v1/reminders/{w['rid']}/acknowledge").status_code == status


def test_acknowledge_pages(app, as_role, reminder_world):
    w = reminder_world
    staff = as_role("staff", person_id=w["pid"])
    mine = staff.get("/people/my-reminders").get_data(as_text=True)
    assert "Trip to Berlin" in mine and "Acknowledge" in mine
    resp = staff.post(f"/people/reminders/{w['rid']}/acknowledge", data={"next": "/people/my-reminders"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/people/my-reminders")
    page = as_role("officer").get("/people/reminders?acknowledged=1").get_data(as_text=True)
    assert "Trip to Berlin" in page and staff.username in page
    assert as_role("officer").get("/people/reminders?acknowledged=0").get_data(as_text=True).count("Trip to Berlin") == 0
    api_list = as_role("inspector").get(f"/api/v1/people/{w['pid']}/reminders?acknowledged=true").get_json()
    assert api_list["total"] == 1


def test_reminder_acknowledged_at_creation_records_who(ctx):
    officer = h.user("officer")
    p = h.person()
    r = services.add_reminder(db.session, p, {"date": TODAY, "occasion": "hosting", "acknowledged": True},
                              actor=officer)
    assert r.acknowledged_at is not None and r.acknowledged_by == officer.username
    with pytest.raises(Conflict):
        services.acknowledge_reminder(db.session, r, actor=officer)
    other = h.user("staff", person_id=h.person().id)
    r2 = services.add_reminder(db.session, p, {"date": TODAY, "occasion": "trip"}, actor=officer)
    with pytest.raises(Forbidden):
        services.acknowledge_reminder(db.session, r2, actor=other)


# ------------------------------------------------------------------ trainings

def test_training_list_edit_and_api(app, as_role, api):
    with app.app_context():
        p = h.person(name="Trainee")
        t = services.add_training(db.session, p, {"date": TODAY - timedelta(days=400), "course": "Annual", "hours": 4},
                                  actor=None)
        fresh = h.person(name="Fresh")
        services.add_training(db.session, fresh, {"date": TODAY, "course": "Induction", "hours": 2}, actor=None)
        db.session.commit()
        tid, pid = t.id, p.id
    page = as_role("inspector").get("/people/trainings").get_data(as_text=True)
    assert "Annual" in page and "Induction" in page
    # the refresher list names the person whose last training is older than 12 months
    untrained = page.split("without training in the last 12 months")[1]
    assert "Trainee" in untrained and "Fresh" not in untrained
    officer = as_role("officer")
    assert officer.get(f"/people/trainings/{tid}/edit").status_code == 200
    resp = officer.post(f"/people/trainings/{tid}/edit", data={"date": TODAY.isoformat(), "course": "Annual 2026",
                                                               "hours": "6"})
    assert resp.status_code == 302
    assert as_role("inspector").get(f"/people/trainings/{tid}/edit").status_code == 403
    body = api("officer").patch(f"/api/v1/trainings/{tid}", json={"hours": 8}).get_json()
    assert body["course"] == "Annual 2026" and body["hours"] == 8.0
    listed = api("inspector").get(f"/api/v1/people/{pid}/trainings").get_json()
    assert listed["total"] == 1
    with app.app_context():
        assert h.audit_actions("training.").count("training.update") == 2


@pytest.mark.parametrize("role, path, allowed", [
    ("staff", "/people/commitments", False), ("staff", "/people/my-reminders", True),
    ("guard", "/people/my-reminders", False), ("inspector", "/people/reminders", True),
    ("approver", "/people/trainings", True),
])
def test_page_gates(as_role, role, path, allowed):
    resp = as_role(role).get(path)
    assert (resp.status_code == 200) is allowed, (role, path, resp.status_code)
