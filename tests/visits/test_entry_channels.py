"""Every entry reason code through every channel: JSON API, guard station page and CLI.

Each refusal answers with its status and reason code and leaves a security event
(kind entry_denied, reason, the visitor as subject, the room in the details)."""

from __future__ import annotations

import re
from markupsafe import escape as html_escape

import pytest
import sqlalchemy as sa

from registry.core.errors import REASONS
from registry.core.security_events import SecurityEvent
from registry.extensions import db
from registry.visits.models import Visit
from tests.visits import scenarios

CASES = sorted(scenarios.ONE_PER_REASON.items())


def _events(app, reason):
    with app.app_context():
        return [(e.kind, e.reason, e.subject_type, e.subject_id, (e.details or {}).get("room"))
                for e in db.session.scalars(sa.select(SecurityEvent).where(SecurityEvent.reason == reason))]


def _open_visits(app, visitor_id):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(Visit.id)).where(
            Visit.visitor_id == visitor_id, Visit.exited_at.is_(None)))


@pytest.mark.parametrize("reason,scenario", CASES, ids=[r for r, _f in CASES])
def test_api_refusal(app, make, api, reason, scenario):
    ids = scenarios.build(app, make, scenario)
    guard = api("guard")
    inside_before = _open_visits(app, ids["visitor_id"])
    body = {"visitor_id": ids["visitor_id"], "room_id": ids["room_id"]}
    if ids["escort_id"]:
        body["escort_id"] = ids["escort_id"]
    resp = guard.post("/api/v1/visits", json=body)
    assert resp.status_code == REASONS[reason][0], resp.get_json()
    err = resp.get_json()["error"]
    assert err["code"] == reason and err["message"]
    assert _events(app, reason) == [("entry_denied", reason, "visitors", ids["visitor_id"], ids["room_code"])]
    assert _open_visits(app, ids["visitor_id"]) == inside_before


@pytest.mark.parametrize("reason,scenario", CASES, ids=[r for r, _f in CASES])
def test_guard_page_refusal(app, make, as_role, reason, scenario):
    ids = scenarios.build(app, make, scenario)
    guard = as_role("guard")
    form = {"visitor_id": ids["visitor_id"], "room_id": ids["room_id"], "escort_id": ids["escort_id"] or "",
            "device_phone": "deposited"}
    resp = guard.post("/guard/enter", data=form, headers={"Accept-Language": "en"})
    assert resp.status_code == REASONS[reason][0]
    html = resp.get_data(as_text=True)
    block = re.search(r'<div class="refusal"[^>]*>(.*?)</div>', html, re.S)
    assert block, html[:2000]
    assert f'<span class="refusal-code">{reason}</span>' in block.group(1)
    assert html_escape(str(REASONS[reason][1])) in block.group(1)  # the message in the guard's language (here English)
    assert _events(app, reason) == [("entry_denied", reason, "visitors", ids["visitor_id"], ids["room_code"])]
    if reason == "already_inside":  # the station shows where the visitor is, with the Exit button
        assert 'id="exit-button"' in html
    else:  # the form keeps what the guard chose, so that only the missing piece has to be fixed
        assert f'<option value="{ids["room_id"]}" selected' in html
        assert 'name="device_phone" value="deposited" aria-label' in html and "checked" in html


@pytest.mark.parametrize("reason,scenario", CASES, ids=[r for r, _f in CASES])
def test_cli_refusal(app, make, runner, reason, scenario):
    ids = scenarios.build(app, make, scenario)
    args = ["visits", "enter", ids["badge_code"], "--room", ids["room_code"]]
    if ids["escort_no"]:
        args += ["--escort", ids["escort_no"]]
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert f"{reason}:" in result.output
    assert _events(app, reason) == [("entry_denied", reason, "visitors", ids["visitor_id"], ids["room_code"])]


def test_api_entry_and_exit(app, make, api):
    ids = scenarios.build(app, make, scenarios.escorted_with_everything)
    guard = api("guard")
    resp = guard.post("/api/v1/visits", json={
        "visitor_id": ids["visitor_id"], "room_id": ids["room_id"], "escort_id": ids["escort_id"],
        "devices": [{"kind": "phone", "disposition": "deposited"}, {"kind": "laptop", "disposition": "carried",
                                                                    "note": "inspected"}]})
    assert resp.status_code == 201, resp.get_json()
    visit = resp.get_json()
    assert visit["visitor_id"] == ids["visitor_id"] and visit["escort_id"] == ids["escort_id"]
    assert visit["exited_at"] is None and visit["entered_at"]
    assert visit["devices"][1] == {"kind": "laptop", "disposition": "carried", "note": "inspected"}
    occupants = guard.get(f"/api/v1/rooms/{ids['room_id']}/occupants").get_json()
    assert [o["id"] for o in occupants["items"]] == [visit["id"]] and occupants["total"] == 1
    resp = guard.post(f"/api/v1/visits/{visit['id']}/exit")
    assert resp.status_code == 200 and resp.get_json()["exited_at"]
    assert guard.get(f"/api/v1/rooms/{ids['room_id']}/occupants").get_json()["total"] == 0
    resp = guard.post(f"/api/v1/visits/{visit['id']}/exit")
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_inside"
    assert [e[:2] for e in _events(app, "not_inside")] == [("exit_denied", "not_inside")]


@pytest.mark.parametrize("body,field", [
    ({"room_id": 1}, "visitor_id"),
    ({"visitor_id": 1, "room_id": 1, "devices": [{"kind": "phaser"}]}, "devices"),
    ({"visitor_id": 1, "room_id": 1, "devices": [{"kind": "phone", "disposition": "swallowed"}]}, "devices"),
    ({"visitor_id": 1, "room_id": 1, "devices": "phone"}, "devices"),
    ({"visitor_id": 1, "room_id": 1, "colour": "red"}, "colour"),
])
def test_api_entry_validation(api, body, field):
    resp = api("guard").post("/api/v1/visits", json=body)
    assert resp.status_code == 422
    assert field in resp.get_json()["error"]["details"]


def test_guard_page_entry_then_exit(app, make, as_role):
    ids = scenarios.build(app, make, scenarios.escorted_with_everything)
    guard = as_role("guard")
    resp = guard.post("/guard/enter", data={"visitor_id": ids["visitor_id"], "room_id": ids["room_id"],
                                            "escort_id": ids["escort_id"], "device_phone": "deposited",
                                            "device_camera": "carried", "device_note": "tripod"})
    assert resp.status_code == 302
    page = guard.get(resp.headers["Location"]).get_data(as_text=True)
    assert 'class="allowed"' in page and '<span class="allowed-code">entered</span>' in page
    with app.app_context():
        visit = db.session.scalars(sa.select(Visit).where(Visit.visitor_id == ids["visitor_id"])).one()
        assert visit.devices == [{"kind": "phone", "disposition": "deposited", "note": ""},
                                 {"kind": "camera", "disposition": "carried", "note": ""},
                                 {"kind": "other", "disposition": "carried", "note": "tripod"}]
        assert visit.logged_by.startswith("guard")
        visit_id = visit.id
    assert f'name="visit_id" value="{visit_id}"' in page  # the exit button of the visitor's open visit
    resp = guard.post("/guard/exit", data={"visit_id": visit_id})
    assert resp.status_code == 302
    page = guard.get(resp.headers["Location"]).get_data(as_text=True)
    assert '<span class="allowed-code">exited</span>' in page
    assert "Mobile phone" in page  # hand back the deposited phone
    resp = guard.post("/guard/exit", data={"visit_id": visit_id})
    assert resp.status_code == 409 and '<span class="refusal-code">not_inside</span>' in resp.get_data(as_text=True)


def test_cli_enter_exit_inside(app, make, runner):
    ids = scenarios.build(app, make, scenarios.escorted_with_everything)
    guard_id = make.user("guard", username="gate1")
    assert guard_id
    result = runner.invoke(args=["visits", "enter", str(ids["visitor_id"]), "--room", ids["room_code"].lower(),
                                 "--escort", ids["escort_no"], "--device", "phone", "--device", "laptop:carried",
                                 "--by", "gate1"])
    assert result.exit_code == 0, result.output
    assert "entered: visit #" in result.output
    result = runner.invoke(args=["visits", "inside"])
    assert result.exit_code == 0 and ids["room_code"] in result.output and "1 inside" in result.output
    result = runner.invoke(args=["visits", "exit", ids["badge_code"], "--by", "gate1"])
    assert result.exit_code == 0, result.output
    assert "return deposited device: phone" in result.output
    with app.app_context():
        visit = db.session.scalars(sa.select(Visit).where(Visit.visitor_id == ids["visitor_id"])).one()
        assert visit.logged_by == "gate1" and visit.exit_logged_by == "gate1" and visit.exited_at
    result = runner.invoke(args=["visits", "exit", ids["badge_code"]])
    assert result.exit_code == 1 and "not_inside" in result.output


@pytest.mark.parametrize("args,message", [
    (["visits", "enter", "999999", "--room", "NOPE"], "no visitor matches"),
    (["visits", "enter", "VISITOR", "--room", "NOPE"], "not_found"),
    (["visits", "enter", "VISITOR", "--room", "ROOM", "--escort", "NOBODY"], "not_found"),
    (["visits", "enter", "VISITOR", "--room", "ROOM", "--device", "phaser"], "validation_error"),
    (["visits", "enter", "VISITOR", "--room", "ROOM", "--by", "nobody"], "not an active guard"),
])
def test_cli_bad_input(app, make, runner, args, message):
    ids = scenarios.build(app, make, scenarios.open_room_foreigner)
    args = [{"VISITOR": str(ids["visitor_id"]), "ROOM": ids["room_code"]}.get(a, a) for a in args]
    result = runner.invoke(args=args)
    assert result.exit_code != 0 and message in result.output, result.output


def test_revoked_badge_is_refused_and_recorded(app, make, as_role, runner):
    ids = scenarios.build(app, make, scenarios.open_room_foreigner)
    with app.app_context():
        from registry.visits import services

        visitor = services.get_visitor(db.session, ids["visitor_id"])
        services.reissue_badge(db.session, visitor, actor=None)
        db.session.commit()
    guard = as_role("guard")
    resp = guard.get(f"/guard?code=https://registry.example.test/s/{ids['badge_code']}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert '<span class="refusal-code">label_revoked</span>' in html
    result = runner.invoke(args=["visits", "enter", ids["badge_code"], "--room", ids["room_code"]])
    assert result.exit_code == 1 and "label_revoked" in result.output
    with app.app_context():
        kinds = db.session.scalars(sa.select(SecurityEvent.kind).where(SecurityEvent.reason == "label_revoked")).all()
    assert kinds == ["revoked_label_scanned", "revoked_label_scanned"]


@pytest.mark.parametrize("method,url", [("post", "/api/v1/visits"), ("post", "/api/v1/visits/1/exit")])
@pytest.mark.parametrize("role", ["staff", "inspector", "approver"])
def test_only_guards_and_officers_log_entries(api, method, url, role):
    resp = getattr(api(role), method)(url, json={"visitor_id": 1, "room_id": 1})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
