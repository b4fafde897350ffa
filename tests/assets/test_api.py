"""The custody JSON API (SPEC §6): registers, filters, scope, labels, scan, checkout/checkin, log, copies."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry.extensions import db
from tests.assets import helpers as h
from tests.assets.conftest import security_events


def _ids(resp):
    return sorted(i["id"] for i in resp.get_json()["items"])


def test_create_read_patch_with_scope(app, api):
    officer = api("officer")
    with app.app_context():
        p = h.person()
        r = h.room(level="secret")
        db.session.commit()
        pid, rid = p.id, r.id
    body = {"kind": "computer", "subtype": "laptop", "title": "涉密笔记本", "level": "secret", "room_id": rid,
            "custodian_id": pid, "serial_no": "SN1", "hdd_serial": "HD1", "mac": "3C:52:82:1A:0B:7F",
            "network": "standalone", "os": "Kylin", "scope": {"departments": ["Lab 1"], "person_ids": [pid]}}
    resp = officer.post("/api/v1/assets", json=body)
    assert resp.status_code == 201, resp.get_json()
    asset = resp.get_json()
    assert asset["registry_no"].startswith(f"JSJ-{date.today().year}-")
    assert asset["scope"] == {"departments": ["Lab 1"], "person_ids": [pid]}
    assert asset["label_code"] and len(asset["label_code"]) >= 16 and asset["status"] == "available"
    assert asset["secrecy_years"] == 20 and asset["declassify_on"]
    resp = officer.patch(f"/api/v1/assets/{asset['id']}", json={"os": "Kylin V10", "scope": {"departments": []}})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["os"] == "Kylin V10" and resp.get_json()["scope"] == {"departments": [], "person_ids": []}
    assert resp.get_json()["mac"] == "3C:52:82:1A:0B:7F"  # untouched fields keep their values
    assert officer.get(f"/api/v1/assets/{asset['id']}").get_json()["os"] == "Kylin V10"


@pytest.mark.parametrize("body,field", [
    ({"kind": "media", "title": "x", "level": "secret", "owner": 1}, "owner"),
    ({"kind": "media", "title": "x", "level": "ultra"}, "level"),
    ({"kind": "media", "title": "x", "level": "secret", "subtype": "laptop"}, "subtype"),
    ({"kind": "computer", "title": "x", "level": "secret", "mac": "zz"}, "mac"),
    ({"kind": "computer", "title": "x", "level": "secret", "ip": "999.1.1.1"}, "ip"),
    ({"kind": "media", "title": "x\x07", "level": "secret"}, "title"),
    ({"kind": "media", "title": "x", "level": "secret", "custodian_id": 99999}, "custodian_id"),
    ({"kind": "media", "title": "x", "level": "secret", "scope": {"people": []}}, "scope"),
])
def test_create_validation(api, body, field):
    resp = api("officer").post("/api/v1/assets", json=body)
    assert resp.status_code == 422 and field in resp.get_json()["error"]["details"], resp.get_json()


def test_registry_number_given_must_be_unique_and_read_only(api):
    officer = api("officer")
    resp = officer.post("/api/v1/assets", json={"kind": "media", "title": "x", "level": "internal",
                                                "registry_no": "OLD-1999-7"})
    assert resp.status_code == 201 and resp.get_json()["registry_no"] == "OLD-1999-7"
    resp = officer.post("/api/v1/assets", json={"kind": "media", "title": "y", "level": "internal",
                                                "registry_no": "old-1999-7"})
    assert resp.status_code == 422 and "registry_no" in resp.get_json()["error"]["details"]
    aid = officer.get("/api/v1/assets?q=OLD-1999").get_json()["items"][0]["id"]
    resp = officer.patch(f"/api/v1/assets/{aid}", json={"registry_no": "NEW-1"})
    assert resp.status_code == 422
    resp = officer.patch(f"/api/v1/assets/{aid}", json={"kind": "computer"})
    assert resp.status_code == 422 and "kind" in resp.get_json()["error"]["details"]


def test_list_filters_and_visibility(app, api):
    with app.app_context():
        me = h.person(category="general", department="Lab 1")
        other = h.person(category="core")
        room = h.room(level="internal")
        a = h.asset(kind="media", level="confidential", title="Alpha plan")
        b = h.asset(kind="storage", level="secret", title="Beta disk")
        c = h.asset(kind="media", level="internal", room_id=room.id, title="Gamma 50%_note")
        d = h.asset(kind="media", level="confidential", scope_departments=["Lab 2"], title="Delta")
        from registry.assets import services

        services.checkout(db.session, c, other, actor=None, purpose="x", now=services.utcnow() - timedelta(days=100),
                          due_at=None)
        db.session.commit()
        ids = {k: v.id for k, v in dict(a=a, b=b, c=c, d=d).items()}
        room_id, me_id = room.id, me.id
    officer = api("officer")
    assert _ids(officer.get("/api/v1/assets")) == sorted(ids.values())
    assert _ids(officer.get("/api/v1/assets?kind=storage")) == [ids["b"]]
    assert _ids(officer.get("/api/v1/assets?level=confidential")) == sorted([ids["a"], ids["d"]])
    assert _ids(officer.get("/api/v1/assets?status=checked_out")) == [ids["c"]]
    assert _ids(officer.get(f"/api/v1/assets?room_id={room_id}")) == [ids["c"]]
    assert _ids(officer.get("/api/v1/assets?overdue=true")) == [ids["c"]]
    assert _ids(officer.get("/api/v1/assets?q=alpha")) == [ids["a"]]
    assert _ids(officer.get("/api/v1/assets?q=50%25_")) == [ids["c"]]       # wildcards are literal
    assert _ids(officer.get("/api/v1/assets?q=%25")) == [ids["c"]]
    assert officer.get("/api/v1/assets?kind=car").status_code == 422
    assert officer.get("/api/v1/assets?per_page=500").status_code == 422
    staff = api("staff", person_id=me_id)                 # confidential clearance, Lab 1
    assert _ids(staff.get("/api/v1/assets")) == sorted([ids["a"], ids["c"]])
    assert staff.get(f"/api/v1/assets/{ids['d']}").status_code == 404   # out of scope: no oracle
    assert staff.get(f"/api/v1/assets/{ids['b']}").status_code == 404   # above clearance
    assert api("guard").get("/api/v1/assets").status_code == 403


def test_checkout_checkin_roundtrip_and_log(app, api):
    with app.app_context():
        b = h.person()
        a = h.asset(level="confidential")
        db.session.commit()
        bid, aid = b.id, a.id
    officer = api("officer")
    resp = officer.post(f"/api/v1/assets/{aid}/checkout", json={"borrower_id": bid, "purpose": "design review"})
    assert resp.status_code == 201, resp.get_json()
    co = resp.get_json()
    assert co["asset_id"] == aid and co["borrower_id"] == bid and co["returned_at"] is None and not co["overdue"]
    assert officer.get(f"/api/v1/assets/{aid}").get_json()["status"] == "checked_out"
    log = officer.get("/api/v1/checkouts?open=true").get_json()
    assert log["total"] == 1 and log["items"][0]["id"] == co["id"]
    assert officer.get("/api/v1/checkouts?overdue=true").get_json()["total"] == 0
    resp = officer.post(f"/api/v1/assets/{aid}/checkin", json={"condition": "seal_broken", "note": "seal torn"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["condition"] == "seal_broken" and resp.get_json()["returned_at"]
    assert officer.get(f"/api/v1/checkouts?asset_id={aid}&open=false").get_json()["total"] == 1
    assert len(security_events(app, "seal_broken")) == 1
    assert officer.post(f"/api/v1/assets/{aid}/checkin", json={"condition": "melted"}).status_code == 422
    # staff see only their own checkouts; staff cannot check items in
    staff = api("staff", person_id=bid)
    assert staff.get("/api/v1/checkouts").get_json()["total"] == 1
    assert api("staff").get("/api/v1/checkouts").get_json()["total"] == 0
    assert staff.post(f"/api/v1/assets/{aid}/checkin", json={"condition": "intact"}).status_code == 403
    assert api("inspector").post(f"/api/v1/assets/{aid}/checkout", json={"borrower_id": bid,
                                                                          "purpose": "x"}).status_code == 403


def test_staff_self_checkout_only_to_themselves(app, api):
    with app.app_context():
        me, other = h.person(category="general"), h.person()
        a = h.asset(level="confidential")
        db.session.commit()
        me_id, other_id, aid = me.id, other.id, a.id
    staff = api("staff", person_id=me_id)
    resp = staff.post(f"/api/v1/assets/{aid}/checkout", json={"borrower_id": other_id, "purpose": "x"})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "self_checkout_not_allowed"
    resp = staff.post(f"/api/v1/assets/{aid}/checkout", json={"borrower_id": me_id, "purpose": "x"})
    assert resp.status_code == 201 and resp.get_json()["self_service"] is True


def test_approval_flow_through_the_api(app, api):
    with app.app_context():
        me = h.person(category="important")
        a = h.asset(level="secret")
        db.session.commit()
        me_id, aid = me.id, a.id
    staff = api("staff", person_id=me_id)
    officer = api("officer")
    resp = officer.post(f"/api/v1/assets/{aid}/checkout", json={"borrower_id": me_id, "purpose": "x"})
    assert resp.get_json()["error"]["code"] == "approval_required"
    ap = staff.post("/api/v1/approvals", json={"kind": "checkout", "asset_id": aid, "borrower_id": me_id,
                                               "purpose": "test campaign"}).get_json()
    assert api("approver").post(f"/api/v1/approvals/{ap['id']}/decision",
                                json={"decision": "approved", "reason": "ok"}).status_code == 200
    resp = officer.post(f"/api/v1/assets/{aid}/checkout", json={"borrower_id": me_id, "purpose": "x"})
    assert resp.status_code == 201 and resp.get_json()["approval_id"] == ap["id"]
    assert officer.get(f"/api/v1/approvals/{ap['id']}").get_json()["status"] == "used"


def test_reissue_label_and_scan(app, api):
    with app.app_context():
        a = h.asset(level="internal")
        r = h.room()
        db.session.commit()
        aid, old, room_code, rid = a.id, a.label_code, r.label_code, r.id
    officer = api("officer")
    resp = officer.get(f"/api/v1/scan/{old}")
    assert resp.status_code == 200
    assert resp.get_json() == {"type": "asset", "id": aid, "url": f"/items/{aid}/act"}
    assert officer.get(f"/api/v1/scan/{room_code}").get_json() == {"type": "room", "id": rid, "url": f"/rooms/{rid}"}
    resp = officer.post(f"/api/v1/assets/{aid}/label", json={"reason": "damaged"})
    assert resp.status_code == 200
    new = resp.get_json()["label_code"]
    assert new != old and resp.get_json()["qr_url"] == f"https://registry.example.test/s/{new}"
    resp = officer.get(f"/api/v1/scan/{old}")
    assert resp.status_code == 410 and resp.get_json()["error"]["code"] == "label_revoked"
    events = security_events(app, "label_revoked")
    assert len(events) == 1 and events[0].kind == "revoked_label_scanned" and events[0].subject_id == aid
    assert officer.get(f"/api/v1/scan/{new}").status_code == 200
    assert officer.get("/api/v1/scan/AAAAAAAAAAAAAAAAAAAAAA").status_code == 404
    assert officer.get("/api/v1/scan/x").status_code == 404


def test_scan_api_no_oracle_for_roles_that_may_not_see(app, api):
    with app.app_context():
        a = h.asset(level="top_secret")
        old = a.label_code
        from registry.assets import services

        services.reissue_label(db.session, a, actor=None)
        db.session.commit()
        new = a.label_code
    guard = api("guard")
    answers = [guard.get(f"/api/v1/scan/{c}") for c in (new, old, "B" * 20)]
    assert {r.status_code for r in answers} == {404}
    assert len({r.get_data() for r in answers}) == 1
    # the revoked scan is still recorded, silently
    assert len(security_events(app, "label_revoked")) == 1


def test_copies_need_an_approval(app, api):
    with app.app_context():
        a = h.asset(kind="media", level="confidential", copy_no=1, scope_departments=["Lab 1"])
        requester = h.person()  # Lab 1, cleared: the item is within the requester's need-to-know
        db.session.commit()
        aid, rid = a.id, requester.id
    officer = api("officer")
    resp = officer.post(f"/api/v1/assets/{aid}/copies", json={"count": 1})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "approval_required"
    ap = api("staff", person_id=rid).post("/api/v1/approvals", json={"kind": "copy", "asset_id": aid, "copies": 2,
                                                      "purpose": "distribution"}).get_json()
    api("approver").post(f"/api/v1/approvals/{ap['id']}/decision", json={"decision": "approved"})
    resp = officer.post(f"/api/v1/assets/{aid}/copies", json={"count": 3})
    assert resp.status_code == 422 and "count" in resp.get_json()["error"]["details"]
    resp = officer.post(f"/api/v1/assets/{aid}/copies", json={"count": 2})
    assert resp.status_code == 201, resp.get_json()
    copies = resp.get_json()["items"]
    original = officer.get(f"/api/v1/assets/{aid}").get_json()
    assert [c["copy_no"] for c in copies] == [2, 3]
    for c in copies:
        assert c["original_id"] == aid and c["level"] == original["level"]
        assert c["declassify_on"] == original["declassify_on"] and c["secrecy_years"] == original["secrecy_years"]
        assert c["scope"] == original["scope"] and c["registry_no"] != original["registry_no"]
        assert c["label_code"] != original["label_code"]
    resp = officer.post(f"/api/v1/assets/{aid}/copies", json={"count": 1})     # the approval is used up
    assert resp.status_code == 403


def test_internal_items_are_copied_without_approval(app, api):
    with app.app_context():
        a = h.asset(kind="media", level="internal")
        db.session.commit()
        aid = a.id
    resp = api("officer").post(f"/api/v1/assets/{aid}/copies", json={"count": 1})
    assert resp.status_code == 201 and resp.get_json()["items"][0]["copy_no"] == 2


def test_inspection_api_then_placement(app, api):
    with app.app_context():
        a = h.asset(kind="equipment", level="internal", foreign_supplied=True)
        r = h.room(level="secret")
        db.session.commit()
        aid, rid = a.id, r.id
    officer = api("officer")
    assert officer.patch(f"/api/v1/assets/{aid}", json={"room_id": rid}).status_code == 403
    resp = officer.post(f"/api/v1/assets/{aid}/inspections", json={"date": date.today().isoformat(),
                                                                  "inspector": "保密技术检查中心", "result": "passed"})
    assert resp.status_code == 201
    assert officer.patch(f"/api/v1/assets/{aid}", json={"room_id": rid}).status_code == 200


def test_openapi_documents_custody(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/assets", "/api/v1/assets/{asset_id}", "/api/v1/assets/{asset_id}/label",
                 "/api/v1/scan/{code}", "/api/v1/assets/{asset_id}/checkout", "/api/v1/assets/{asset_id}/checkin",
                 "/api/v1/checkouts", "/api/v1/approvals", "/api/v1/approvals/{approval_id}/decision"):
        assert path in paths, sorted(paths)
