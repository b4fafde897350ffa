"""Approvals: request, decide (no self-approval), find usable, consume exactly once, cancel, API."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.approvals import rules, services
from registry.approvals.models import ApprovalStatus
from registry.core.errors import Forbidden, RuleViolation, ValidationFailed
from registry.core.security_events import SecurityEvent
from registry.extensions import db
from tests.assets import helpers as h


@pytest.fixture
def world(ctx):
    borrower = h.person()
    other = h.person()
    item = h.asset(level="secret")
    officer = h.user("officer")
    approver = h.user("approver", person_id=other.id)
    approver2 = h.user("approver")
    staff = h.user("staff", person_id=borrower.id)
    db.session.commit()
    return dict(borrower=borrower, other=other, item=item, officer=officer, approver=approver,
                approver2=approver2, staff=staff)


def _request(w, actor=None, **kw):
    subject = {"asset_id": w["item"].id, "borrower_id": w["borrower"].id}
    subject.update(kw)
    return services.request_approval(db.session, kind="checkout", actor=actor or w["officer"], purpose="review",
                                     **subject)


def test_request_decide_find_consume(world):
    a = _request(world)
    assert a.status == ApprovalStatus.PENDING
    assert services.find_usable(db.session, "checkout", asset_id=world["item"].id,
                                borrower_id=world["borrower"].id) is None
    services.decide(db.session, a, decision="approved", reason="ok", actor=world["approver2"])
    found = services.find_usable(db.session, "checkout", asset_id=world["item"].id, borrower_id=world["borrower"].id)
    assert found is not None and found.id == a.id
    assert services.find_usable(db.session, "checkout", asset_id=world["item"].id, borrower_id=world["other"].id) is None
    services.consume(db.session, a, actor=world["officer"])
    assert a.status == ApprovalStatus.USED and a.used_at is not None
    with pytest.raises(RuleViolation) as exc:
        services.consume(db.session, a, actor=world["officer"])
    assert exc.value.code == "approval_invalid"
    assert services.find_usable(db.session, "checkout", asset_id=world["item"].id,
                                borrower_id=world["borrower"].id) is None


@pytest.mark.parametrize("decider,requester", [
    ("approver2", "approver2"),   # decider requested it
    ("approver", "officer"),      # decider benefits: approver's person is the borrower below
])
def test_self_approval_refused(world, decider, requester):
    borrower = world["other"] if decider == "approver" else world["borrower"]
    a = _request(world, actor=world[requester], borrower_id=borrower.id)
    with pytest.raises(RuleViolation) as exc:
        services.decide(db.session, a, decision="approved", reason="", actor=world[decider])
    assert exc.value.code == "self_approval"
    assert a.status == ApprovalStatus.PENDING


@pytest.mark.parametrize("role", ["officer", "staff"])
def test_only_approvers_decide(world, role):
    a = _request(world)
    with pytest.raises(Forbidden):
        services.decide(db.session, a, decision="approved", reason="", actor=world[role])


def test_decide_twice_and_reject_needs_reason(world):
    a = _request(world)
    with pytest.raises(ValidationFailed) as exc:
        services.decide(db.session, a, decision="rejected", reason=" ", actor=world["approver2"])
    assert "reason" in exc.value.details
    services.decide(db.session, a, decision="rejected", reason="not needed", actor=world["approver2"])
    assert a.status == ApprovalStatus.REJECTED
    with pytest.raises(RuleViolation) as exc:
        services.decide(db.session, a, decision="approved", reason="", actor=world["approver2"])
    assert exc.value.code == "approval_invalid"


@pytest.mark.parametrize("kind,subject,field", [
    ("checkout", {"asset_id": None}, "borrower_id"),
    ("checkout", {"room_id": 1}, "room_id"),
    ("area_permission", {"visitor_id": 5}, "room_id"),
    ("provision", {}, "provision_id"),
    ("destruction", {}, "asset_ids"),
    ("copy", {}, "asset_id"),
    ("copy", {"asset_id": 999999}, "asset_id"),
])
def test_subject_validation(world, kind, subject, field):
    if kind == "checkout" and "asset_id" in subject and subject["asset_id"] is None:
        subject = {"asset_id": world["item"].id}
    with pytest.raises(ValidationFailed) as exc:
        services.request_approval(db.session, kind=kind, actor=world["officer"], purpose="x", **subject)
    assert field in exc.value.details


def test_generic_kinds(world, monkeypatch):
    # visitors and provisions belong to other domains: stand-in loaders for their subject ids
    monkeypatch.setitem(services.SUBJECT_LOADERS, "visitor_id", lambda s, pk: object() if pk == 42 else None)
    monkeypatch.setitem(services.SUBJECT_LOADERS, "provision_id", lambda s, pk: object() if pk in (7, 8) else None)
    monkeypatch.setattr(services, "REQUEST_CHECKS", {})
    monkeypatch.setattr(rules, "BENEFICIARIES", {})
    r = h.room()
    a = services.request_approval(db.session, kind="area_permission", actor=world["officer"], purpose="visit",
                                  visitor_id=42, room_id=r.id)
    d = services.request_approval(db.session, kind="destruction", actor=world["officer"], purpose="destroy",
                                  asset_ids=[world["item"].id])
    p = services.request_approval(db.session, kind="provision", actor=world["officer"], purpose="give",
                                  provision_id=7)
    for x in (a, d, p):
        services.decide(db.session, x, decision="approved", reason="", actor=world["approver2"])
    assert services.find_usable(db.session, "area_permission", visitor_id=42, room_id=r.id).id == a.id
    assert services.find_usable(db.session, "destruction", asset_ids=[world["item"].id]).id == d.id
    assert services.find_usable(db.session, "provision", provision_id=7).id == p.id
    assert services.find_usable(db.session, "provision", provision_id=8) is None


def test_staff_requests_only_for_self(world):
    with pytest.raises(Forbidden):
        _request(world, actor=world["staff"], borrower_id=world["other"].id)
    a = _request(world, actor=world["staff"])
    assert a.requested_by == world["staff"].id


def test_cancel(world):
    a = _request(world, actor=world["staff"])
    services.cancel(db.session, a, actor=world["staff"])
    assert a.status == ApprovalStatus.CANCELLED
    with pytest.raises(RuleViolation):
        services.cancel(db.session, a, actor=world["staff"])


def test_beneficiary_hook(world, monkeypatch):
    from registry.approvals import rules
    from registry.approvals.models import ApprovalKind

    monkeypatch.setitem(services.SUBJECT_LOADERS, "provision_id", lambda s, pk: object())
    monkeypatch.setattr(services, "REQUEST_CHECKS", {})   # provisions' own request check needs a real provision
    monkeypatch.setitem(rules.BENEFICIARIES, ApprovalKind.PROVISION.value, lambda s, a: {world["other"].id})
    p = services.request_approval(db.session, kind="provision", actor=world["officer"], purpose="give", provision_id=7)
    with pytest.raises(RuleViolation) as exc:
        services.decide(db.session, p, decision="approved", reason="", actor=world["approver"])
    assert exc.value.code == "self_approval"


# ------------------------------------------------------------------ API

def test_api_roundtrip_and_self_approval_recorded(app, api, make):
    officer = api("officer")
    with app.app_context():
        b = h.person()
        item = h.asset(level="secret")
        db.session.commit()
        bid, iid = b.id, item.id
    resp = officer.post("/api/v1/approvals", json={"kind": "checkout", "asset_id": iid, "borrower_id": bid,
                                                   "purpose": "design review"})
    assert resp.status_code == 201, resp.get_json()
    aid = resp.get_json()["id"]
    assert resp.get_json()["status"] == "pending"
    # the approver linked to the borrower may not decide
    self_approver = api("approver", person_id=bid)
    resp = self_approver.post(f"/api/v1/approvals/{aid}/decision", json={"decision": "approved", "reason": ""})
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "self_approval"
    with app.app_context():
        ev = db.session.scalar(sa.select(SecurityEvent).where(SecurityEvent.reason == "self_approval"))
        assert ev is not None and ev.kind == "approval_denied"
    approver = api("approver")
    resp = approver.post(f"/api/v1/approvals/{aid}/decision", json={"decision": "approved", "reason": "ok"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "approved"
    resp = approver.post(f"/api/v1/approvals/{aid}/decision", json={"decision": "rejected", "reason": "no"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "approval_invalid"
    listing = officer.get("/api/v1/approvals?status=approved").get_json()
    assert listing["total"] == 1 and listing["items"][0]["decided_by"] is not None
    assert officer.get("/api/v1/approvals?status=bogus").status_code == 422
    # staff see only their own
    staff = api("staff")
    assert staff.get("/api/v1/approvals").get_json()["total"] == 0
    assert staff.get(f"/api/v1/approvals/{aid}").status_code == 404
    # staff and officers cannot decide
    assert officer.post(f"/api/v1/approvals/{aid}/decision", json={"decision": "approved"}).status_code == 403


def test_api_validation(api):
    officer = api("officer")
    resp = officer.post("/api/v1/approvals", json={"kind": "checkout", "purpose": "x", "hack": 1})
    assert resp.status_code == 422 and "hack" in resp.get_json()["error"]["details"]
    resp = officer.post("/api/v1/approvals", json={"kind": "checkout", "purpose": "x"})
    assert resp.status_code == 422
    assert set(resp.get_json()["error"]["details"]) == {"asset_id", "borrower_id"}
    guard = api("guard")
    assert guard.post("/api/v1/approvals", json={"kind": "checkout", "purpose": "x"}).status_code == 403
