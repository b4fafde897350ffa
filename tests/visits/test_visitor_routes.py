"""Visitor and permission pages and API: CRUD, masking of document numbers per role, revocation."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry.core.audit import AuditEvent
from registry.core.security_events import SecurityEvent
from registry.extensions import db
from tests.visits import scenarios

DOC = "E98765432"
VISITOR = {"name": "Hans Müller", "name_alt": "汉斯·穆勒", "nationality": "DE", "id_doc_type": "passport",
           "id_doc_no": DOC, "organization": "Fraunhofer", "purpose": "joint test", "arrives_on": date.today().isoformat(),
           "departs_on": (date.today() + timedelta(days=2)).isoformat()}


def _visitor(app, make, **kw):
    return make.visitor(id_doc_no=DOC, name="Hans Müller", **kw)


@pytest.mark.parametrize("role,full", [("officer", True), ("admin", True), ("guard", False), ("inspector", False),
                                       ("approver", False)])
def test_api_masks_the_document_number(app, make, api, role, full):
    vid = _visitor(app, make)
    client = api(role)
    one = client.get(f"/api/v1/visitors/{vid}").get_json()
    listed = client.get("/api/v1/visitors").get_json()["items"]
    expected = DOC if full else "****5432"
    assert one["id_doc_no"] == expected and listed[0]["id_doc_no"] == expected
    assert one["foreign"] is True and one["nationality"] == "DE"


def test_staff_cannot_look_visitors_up(api, make, app):
    vid = _visitor(app, make)
    assert api("staff").get(f"/api/v1/visitors/{vid}").status_code == 403


@pytest.mark.parametrize("role,url", [
    ("guard", "/visitors/{vid}"), ("guard", "/guard?visitor={vid}"), ("inspector", "/visitors/{vid}"),
    ("inspector", "/visitors"), ("approver", "/visitors/{vid}"), ("inspector", "/visitors/blocked"),
    ("officer", "/visitors/{vid}"), ("officer", "/visitors"), ("officer", "/guard?visitor={vid}"),
    ("officer", "/visitors/blocked"), ("inspector", "/projects/{pid}")])
def test_pages_mask_the_document_number(app, make, as_role, role, url):
    pid = make.project()
    vid = _visitor(app, make, blocked=True, blocked_reason="test", project_id=pid)
    html = as_role(role).get(url.format(vid=vid, pid=pid)).get_data(as_text=True)
    assert "Hans Müller" in html
    if role == "officer" and "projects" not in url:
        assert DOC in html
    else:
        assert DOC not in html
        if "projects" not in url:
            assert "****5432" in html


def test_api_visitor_lifecycle(app, api):
    officer = api("officer")
    resp = officer.post("/api/v1/visitors", json=VISITOR)
    assert resp.status_code == 201, resp.get_json()
    v = resp.get_json()
    assert v["foreign"] is True and v["badge_code"] and v["blocked"] is False and v["id_doc_no"] == DOC
    dup = officer.post("/api/v1/visitors", json={**VISITOR, "id_doc_no": "e9876 5432"})
    assert dup.status_code == 422 and "id_doc_no" in dup.get_json()["error"]["details"]
    resp = officer.patch(f"/api/v1/visitors/{v['id']}", json={"blocked": True})
    assert resp.status_code == 422 and "blocked_reason" in resp.get_json()["error"]["details"]
    resp = officer.patch(f"/api/v1/visitors/{v['id']}", json={"blocked": True, "blocked_reason": "refused NDA"})
    assert resp.status_code == 200 and resp.get_json()["blocked"] is True
    assert resp.get_json()["name"] == "Hans Müller" and resp.get_json()["id_doc_no"] == DOC
    assert [x["id"] for x in officer.get("/api/v1/visitors?blocked=true").get_json()["items"]] == [v["id"]]
    old = v["badge_code"]
    resp = officer.post(f"/api/v1/visitors/{v['id']}/badge")
    assert resp.status_code == 201 and resp.get_json()["badge_code"] != old
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_type == "visitors")
                                     .order_by(AuditEvent.seq)).all()
    assert actions == ["visitor.create", "visitor.block", "visitor.badge_reissue"]


@pytest.mark.parametrize("body,field", [
    ({**VISITOR, "nationality": "XX"}, "nationality"),
    ({**VISITOR, "id_doc_no": "<script>"}, "id_doc_no"),
    ({**VISITOR, "departs_on": "2000-01-01"}, "departs_on"),
    ({**VISITOR, "id_doc_type": "library_card"}, "id_doc_type"),
    ({**VISITOR, "name": "a\x00b"}, "name"),
    ({**VISITOR, "host_id": 999999}, "host_id"),
    ({**VISITOR, "project_id": 999999}, "project_id"),
    ({**VISITOR, "foreign": False}, "foreign"),
])
def test_api_visitor_validation(api, body, field):
    resp = api("officer").post("/api/v1/visitors", json=body)
    assert resp.status_code == 422
    assert field in resp.get_json()["error"]["details"]


def test_api_permissions_grant_list_revoke(app, make, api):
    vid = make.visitor(nationality="DE")
    room = make.room(level="secret")
    officer = api("officer")
    body = {"room_id": room, "valid_from": "2026-01-01T08:00:00+08:00", "valid_until": "2099-01-01T18:00:00+08:00"}
    resp = officer.post(f"/api/v1/visitors/{vid}/permissions", json=body)
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "approval_required"
    with app.app_context():
        event = db.session.scalars(sa.select(SecurityEvent)).one()
        assert (event.kind, event.reason, event.subject_id) == ("permission_denied", "approval_required", vid)
    low = make.room(level="internal")
    resp = officer.post(f"/api/v1/visitors/{vid}/permissions", json={**body, "room_id": low})
    assert resp.status_code == 201, resp.get_json()
    perm = resp.get_json()
    assert perm["escort_required"] is True and perm["revoked_at"] is None
    assert perm["valid_from"].startswith("2026-01-01T00:00:00")  # stored in UTC
    assert [p["id"] for p in officer.get(f"/api/v1/visitors/{vid}/permissions").get_json()["items"]] == [perm["id"]]
    assert [p["id"] for p in officer.get(f"/api/v1/rooms/{low}/permissions").get_json()["items"]] == [perm["id"]]
    assert api("guard").delete(f"/api/v1/permissions/{perm['id']}").status_code == 403
    resp = officer.delete(f"/api/v1/permissions/{perm['id']}")
    assert resp.status_code == 200 and resp.get_json()["revoked_at"]
    assert officer.get(f"/api/v1/permissions?visitor_id={vid}&active=true").get_json()["total"] == 0
    assert officer.get(f"/api/v1/permissions?visitor_id={vid}&revoked=false").get_json()["total"] == 0
    assert officer.get(f"/api/v1/permissions/{perm['id']}").get_json()["revoked_at"]
    with app.app_context():
        assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "permission.revoke"))


@pytest.mark.parametrize("body,field", [
    ({"valid_from": "2026-01-01T08:00", "valid_until": "2099-01-01T08:00"}, "room_id"),
    ({"room_id": 1, "valid_from": "yesterday", "valid_until": "2099-01-01T08:00"}, "valid_from"),
    ({"room_id": 1, "valid_from": "2099-01-02T08:00", "valid_until": "2099-01-01T08:00"}, "valid_until"),
    ({"room_id": 1, "valid_from": "2026-01-01T08:00", "valid_until": "2099-01-01T08:00", "revoked_at": None},
     "revoked_at"),
])
def test_api_permission_validation(app, make, api, body, field):
    vid = make.visitor(nationality="CN")
    resp = api("officer").post(f"/api/v1/visitors/{vid}/permissions", json=body)
    assert resp.status_code == 422 and field in resp.get_json()["error"]["details"]


def test_permission_page_refusal_is_shown_and_recorded(app, make, as_role):
    vid = make.visitor(nationality="JP")
    room = make.room(level="top_secret", foreign_policy="escorted")
    officer = as_role("officer")
    resp = officer.post(f"/visitors/{vid}/permissions", data={
        "room_id": room, "valid_from": "2026-01-01T08:00", "valid_until": "2099-01-01T18:00", "escort_required": "y"},
        headers={"Accept-Language": "en"}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "approval_required" in html and "area-permission approval" in html
    with app.app_context():
        assert db.session.scalar(sa.select(SecurityEvent.reason)) == "approval_required"


def test_officer_requests_an_approval_and_grants_after_the_decision(app, make, as_role):
    from registry.approvals import services as approvals
    from registry.auth.models import User

    vid = make.visitor(nationality="JP")
    room = make.room(level="secret", foreign_policy="escorted")
    officer = as_role("officer")
    resp = officer.post(f"/visitors/{vid}/approvals", data={"room_id": room, "purpose": "test bench"},
                        follow_redirects=True)
    assert resp.status_code == 200
    approver_id = make.user("approver")
    with app.app_context():
        approval = approvals.find_open(db.session, "area_permission", visitor_id=vid, room_id=room)
        assert approval is not None and approval.purpose == "test bench"
        approvals.decide(db.session, approval, decision="approved", actor=db.session.get(User, approver_id))
        db.session.commit()
    resp = officer.post(f"/visitors/{vid}/permissions", data={
        "room_id": room, "valid_from": "2026-01-01T08:00", "valid_until": "2099-01-01T18:00", "escort_required": "y"},
        headers={"Accept-Language": "en"}, follow_redirects=True)
    assert "Permission granted." in resp.get_data(as_text=True)


def test_visitor_pages_for_the_officer(app, make, as_role):
    host = make.person(name="王建国")
    pid = make.project(name="Joint sensor study")
    officer = as_role("officer")
    resp = officer.post("/visitors/new", data={**VISITOR, "host_id": host, "project_id": pid},
                        follow_redirects=True, headers={"Accept-Language": "en"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "Visitor registered." in html and "王建国" in html and "Joint sensor study" in html
    with app.app_context():
        from registry.visits.models import Visitor

        vid = db.session.scalar(sa.select(Visitor.id))
    resp = officer.post(f"/visitors/{vid}/block", data={"reason": "refused to deposit phone"}, follow_redirects=True)
    assert "refused to deposit phone" in officer.get("/visitors/blocked").get_data(as_text=True)
    resp = officer.post(f"/visitors/{vid}/edit", data={**VISITOR, "id_doc_no": "bad!", "host_id": host},
                        headers={"Accept-Language": "en"})
    assert resp.status_code == 422 and "Letters, digits" in resp.get_data(as_text=True)
    badge = officer.get(f"/visitors/badges?ids={vid}&sheet=a4-2x7").get_data(as_text=True)
    assert 'class="label-sheet sheet-a4-2x7"' in badge and "data:image/svg+xml" in badge and DOC not in badge
    assert "band-foreign" in badge
    for url in ("/visitors", "/permissions", "/visits", f"/visitors/{vid}", "/visitors/new", f"/visitors/{vid}/edit"):
        assert officer.get(url).status_code == 200, url


def test_badge_qr_encodes_the_configured_base_url(app, make):
    import segno

    from registry.visits.views import badge_qr

    vid = make.visitor()
    with app.test_request_context():
        from registry.visits.services import get_visitor

        visitor = get_visitor(db.session, vid)
        uri = badge_qr(visitor)
        expected = segno.make_qr(f"https://registry.example.test/s/{visitor.badge_code}", error="m") \
            .svg_data_uri(border=2, dark="#000", light="#fff")
    assert uri == expected


@pytest.mark.parametrize("role,url,status", [
    ("guard", "/visitors", 403), ("guard", "/visitors/new", 403), ("guard", "/permissions", 403),
    ("guard", "/visits", 403), ("staff", "/visitors/1", 403), ("staff", "/guard", 403),
    ("inspector", "/guard", 403), ("approver", "/visitors/new", 403), ("inspector", "/visitors/badges?ids=1", 403),
])
def test_page_roles(as_role, role, url, status):
    assert as_role(role).get(url).status_code == status


# Scanning is for everyone signed in (a guard scans badges); it answers alike for items a role may
# not see and for unknown codes, and label images carry nothing but the QR of an opaque code.
SHARED_SCAN_ENDPOINTS = {"assets.scan_code", "assets_api.scan_code", "assets.label_image", "assets.custom_css"}


def test_guard_cannot_reach_item_registers(app, as_role):
    """Guards have the guard station, nothing about items: no asset, checkout, label sheet, inventory or
    export route admits them, and the station links to none of them."""
    item_rules = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SHARED_SCAN_ENDPOINTS:
            continue
        if rule.endpoint.split(".")[0].startswith(("assets", "exports", "stocktake")):
            roles = getattr(app.view_functions[rule.endpoint], "required_roles", ())
            assert "guard" not in roles and "public" not in roles and "*" not in roles, rule.rule
            item_rules.append(rule)
    guard = as_role("guard")
    html = guard.get("/guard").get_data(as_text=True)
    for word in ("/items", "/checkouts", "/registers", "/stocktake", "/labels/", "/scan\""):
        assert word not in html
    for rule in item_rules:
        if "<" not in rule.rule and "GET" in rule.methods:
            assert guard.get(rule.rule).status_code == 403, rule.rule


def test_guard_scanning_a_badge_lands_at_the_station(app, make, api, as_role):
    vid = make.visitor()
    with app.app_context():
        from registry.visits.services import get_visitor

        code = get_visitor(db.session, vid).badge_code
    resp = api("guard").get(f"/api/v1/scan/{code}")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["type"] == "visitor" and resp.get_json()["id"] == vid
    assert resp.get_json()["url"] == f"/guard?visitor={vid}"
    assert api("inspector").get(f"/api/v1/scan/{code}").get_json()["url"] == f"/visitors/{vid}"
    resp = as_role("guard").get(f"/s/{code}")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/guard?visitor={vid}")


def test_room_occupants_and_inside_filters(app, make, api):
    ids = scenarios.build(app, make, scenarios.open_room_foreigner)
    guard = api("guard")
    assert guard.post("/api/v1/visits", json={"visitor_id": ids["visitor_id"], "room_id": ids["room_id"]}).status_code == 201
    inspector = api("inspector")
    assert inspector.get("/api/v1/visitors?inside=true").get_json()["total"] == 1
    assert inspector.get("/api/v1/visits?open=true").get_json()["total"] == 1
    assert inspector.get(f"/api/v1/visits?room_id={ids['room_id']}&from=2000-01-01").get_json()["total"] == 1
    assert inspector.get("/api/v1/visits?from=yesterday").status_code == 422
