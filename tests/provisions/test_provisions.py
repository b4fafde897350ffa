"""Provisions to foreign parties: the five steps (R18), each rule and reason code, the status twin,
supervision flags, and the wiring of pages, API and CLI."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry.approvals import services as approvals
from registry.approvals.models import ApprovalStatus
from registry.cooperation import provision_rules as rules
from registry.cooperation import provision_services as services
from registry.cooperation.provision_models import Provision, ProvisionStatus
from registry.core.errors import Forbidden, RuleViolation, ValidationFailed
from registry.extensions import db
from tests.people import helpers as h

TODAY = date.today()


@pytest.fixture
def w(ctx):
    """Officer and approvers, a passed and a pending project, a reviewer and a secret item."""
    officer_person = h.person(name="Officer Person")
    world = {
        "officer": h.user("officer", person_id=officer_person.id),
        "approver": h.user("approver", person_id=h.person().id),
        "approver_officer_person": h.user("approver", person_id=officer_person.id),
        "admin": h.user("admin"),
        "staff": h.user("staff", person_id=h.person().id),
        "project": h.project(),
        "pending_project": h.project(review_status="pending"),
        "reviewer": h.person(name="Reviewer"),
        "item": h.asset(level="secret"),
    }
    db.session.commit()
    return world


def scope(w, **kw):
    data = {"project_id": w["project"].id, "material": "Test report", "asset_id": None, "level": "confidential",
            "copies": 1, "recipient": "Partner GmbH", "recipient_country": "DE", "purpose": "joint work",
            "legal_basis": "Agreement art. 5"}
    data.update(kw)
    return data


def create(w, **kw):
    return services.create_provision(db.session, scope(w, **kw), actor=w["officer"], today=TODAY)


def review(w, p, outcome="passed", conclusion="fine", **kw):
    data = {"reviewer_id": w["reviewer"].id, "reviewed_on": TODAY, "review_outcome": outcome,
            "review_conclusion": conclusion}
    data.update(kw)
    return services.record_review(db.session, p, data, actor=w["officer"], today=TODAY)


def treat(w, p, treatment="declassified", note="codes removed"):
    return services.record_treatment(db.session, p, {"treatment": treatment, "treated_on": TODAY,
                                                      "treatment_note": note}, actor=w["officer"], today=TODAY)


def approved(w, p):
    a = services.request_approval(db.session, p, actor=w["officer"], purpose="please")
    h.approve(a, w["approver"])
    return a


def agree(w, p, signed=None):
    return services.record_agreement(db.session, p, {"agreement_no": "BM-1", "agreement_signed_on": signed or TODAY,
                                                      "agreement_parties": "A / B"}, actor=w["officer"], today=TODAY)


def ready(w, **kw):
    p = create(w, **kw)
    review(w, p)
    approved(w, p)
    agree(w, p)
    return p


# ------------------------------------------------------------------ step 1: scope and the project review

@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_create_refused_unless_project_passed(w, status):
    project = h.project(review_status=status, conclusion="no" if status == "rejected" else "")
    with pytest.raises(RuleViolation) as exc:
        create(w, project_id=project.id)
    assert exc.value.code == "project_review_pending" and exc.value.event_kind == "provision_denied"


def test_create_with_conditional_project_and_level_from_item(w):
    project = h.project(review_status="conditional", conclusion="only declassified data")
    p = create(w, project_id=project.id, asset_id=w["item"].id, level=None)
    assert p.level.value == "secret" and p.status == ProvisionStatus.REQUESTED
    assert h.audit_actions("provision.") == ["provision.create"]


@pytest.mark.parametrize("kw, field", [({"level": None}, "level"), ({"project_id": 99999}, "project_id"),
                                       ({"asset_id": 99999}, "asset_id")])
def test_create_validation(w, kw, field):
    with pytest.raises(ValidationFailed) as exc:
        create(w, **kw)
    assert field in exc.value.details


def test_only_officers_record_provisions(w):
    with pytest.raises(Forbidden):
        services.create_provision(db.session, scope(w), actor=w["approver"], today=TODAY)


def test_scope_frozen_once_approved(w):
    p = create(w)
    services.update_scope(db.session, p, {"material": "Corrected title"}, actor=w["officer"])
    review(w, p)
    approved(w, p)
    with pytest.raises(RuleViolation) as exc:
        services.update_scope(db.session, p, {"recipient": "Someone else"}, actor=w["officer"])
    assert exc.value.code == "invalid_transition"


# ------------------------------------------------------------------ steps 2 and 3: review and treatment

@pytest.mark.parametrize("data, field", [
    ({"review_outcome": None}, "review_outcome"),
    ({"reviewer_id": None}, "reviewer_id"),
    ({"review_outcome": "conditional", "review_conclusion": ""}, "review_conclusion"),
    ({"reviewed_on": TODAY + timedelta(days=1)}, "reviewed_on"),
])
def test_review_validation(w, data, field):
    p = create(w)
    base = {"reviewer_id": w["reviewer"].id, "reviewed_on": TODAY, "review_outcome": "passed", "review_conclusion": ""}
    base.update(data)
    with pytest.raises(ValidationFailed) as exc:
        services.record_review(db.session, p, base, actor=w["officer"], today=TODAY)
    assert field in exc.value.details


def test_review_rejected_ends_the_provision(w):
    p = create(w)
    review(w, p, outcome="rejected", conclusion="contains model parameters")
    assert p.status == ProvisionStatus.REJECTED and p.rejected_reason == "contains model parameters"
    with pytest.raises(RuleViolation) as exc:
        services.mark_provided(db.session, p, actor=w["officer"], today=TODAY)
    assert exc.value.code == "invalid_transition"


@pytest.mark.parametrize("setup", ["conditional_review", "lower_than_item"])
def test_treatment_required(w, setup):
    if setup == "conditional_review":
        p = create(w)
        review(w, p, outcome="conditional", conclusion="remove codes first")
    else:
        p = create(w, asset_id=w["item"].id, level="confidential")  # item is secret
        review(w, p)
    assert rules.treatment_needed(p)
    with pytest.raises(RuleViolation) as exc:
        treat(w, p, treatment="none_needed", note="")
    assert exc.value.code == "treatment_required"
    with pytest.raises(RuleViolation) as exc:
        services.request_approval(db.session, p, actor=w["officer"])
    assert exc.value.code == "treatment_required"
    with pytest.raises(ValidationFailed):
        treat(w, p, treatment="declassified", note="")
    treat(w, p)
    services.request_approval(db.session, p, actor=w["officer"])


# ------------------------------------------------------------------ step 4: approval

def test_request_approval_needs_review_first(w):
    p = create(w)
    with pytest.raises(RuleViolation) as exc:
        services.request_approval(db.session, p, actor=w["officer"])
    assert exc.value.code == "secrecy_review_missing"


def test_generic_approval_request_follows_the_steps(w):
    p = create(w)
    with pytest.raises(RuleViolation) as exc:
        approvals.request_approval(db.session, kind="provision", actor=w["officer"], purpose="x", provision_id=p.id)
    assert exc.value.code == "secrecy_review_missing"
    review(w, p)
    with pytest.raises(Forbidden):
        approvals.request_approval(db.session, kind="provision", actor=w["staff"], purpose="x", provision_id=p.id)
    a = approvals.request_approval(db.session, kind="provision", actor=w["officer"], purpose="x", provision_id=p.id)
    assert a.provision_id == p.id
    with pytest.raises(ValidationFailed):
        approvals.request_approval(db.session, kind="provision", actor=w["officer"], purpose="x", provision_id=99999)


@pytest.mark.parametrize("decider", ["admin_requester", "approver_officer_person"])
def test_no_self_approval(w, decider):
    p = create(w)
    review(w, p)
    if decider == "admin_requester":
        a = services.request_approval(db.session, p, actor=w["admin"])
        actor = w["admin"]
    else:  # the approver is the same person as the officer who registered the provision (the beneficiary)
        a = services.request_approval(db.session, p, actor=w["officer"])
        actor = w["approver_officer_person"]
    with pytest.raises(RuleViolation) as exc:
        approvals.decide(db.session, a, decision="approved", reason="", actor=actor)
    assert exc.value.code == "self_approval"


# ------------------------------------------------------------------ marking provided: every rule in order

def _state(w, name):
    if name == "project_reverted":
        p = ready(w)
        from registry.cooperation import services as projects

        projects.update_project(db.session, w["project"], {"review_status": "pending", "reviewed_on": None},
                                actor=None)
        return p
    if name == "no_review":
        return create(w)
    if name == "conditional_untreated":
        p = create(w)
        review(w, p, outcome="conditional", conclusion="remove codes")
        return p
    if name == "no_approval":
        p = create(w)
        review(w, p)
        agree(w, p)
        return p
    if name == "approval_pending":
        p = create(w)
        review(w, p)
        services.request_approval(db.session, p, actor=w["officer"])
        agree(w, p)
        return p
    if name == "approval_rejected":
        p = create(w)
        review(w, p)
        a = services.request_approval(db.session, p, actor=w["officer"])
        approvals.decide(db.session, a, decision="rejected", reason="no", actor=w["approver"])
        agree(w, p)
        return p
    if name == "no_agreement":
        p = create(w)
        review(w, p)
        approved(w, p)
        return p
    if name == "agreement_after_provision":
        p = create(w)
        review(w, p)
        approved(w, p)
        return p
    raise AssertionError(name)


@pytest.mark.parametrize("state, code", [
    ("project_reverted", "project_review_pending"),
    ("no_review", "secrecy_review_missing"),
    ("conditional_untreated", "treatment_required"),
    ("no_approval", "approval_required"),
    ("approval_pending", "approval_required"),
    ("approval_rejected", "approval_required"),
    ("no_agreement", "agreement_missing"),
    ("agreement_after_provision", "agreement_missing"),
])
def test_provided_refused(w, state, code):
    p = _state(w, state)
    provided_on = TODAY
    if state == "agreement_after_provision":
        agree(w, p, signed=TODAY)
        provided_on = TODAY - timedelta(days=1)
    with pytest.raises(RuleViolation) as exc:
        services.mark_provided(db.session, p, actor=w["officer"], provided_on=provided_on, today=TODAY)
    assert exc.value.code == code and exc.value.event_kind == "provision_denied"
    assert p.status != ProvisionStatus.PROVIDED


def test_provided_consumes_the_approval(w):
    p = ready(w)
    assert p.effective_status == ProvisionStatus.APPROVED
    services.mark_provided(db.session, p, actor=w["officer"], provided_on=TODAY, today=TODAY)
    assert p.status == ProvisionStatus.PROVIDED and p.provided_on == TODAY and p.provided_by == w["officer"].username
    assert p.approval.status == ApprovalStatus.USED and p.approval.used_for == f"provisions#{p.id}"
    assert rules.supervision_flags(p) == []
    with pytest.raises(RuleViolation) as exc:
        services.mark_provided(db.session, p, actor=w["officer"], today=TODAY)
    assert exc.value.code == "invalid_transition"


def test_internal_material_needs_no_approval_or_agreement(w):
    p = create(w, level="internal")
    review(w, p)
    services.mark_provided(db.session, p, actor=w["officer"], today=TODAY)
    assert p.status == ProvisionStatus.PROVIDED and p.approval_id is None


def test_provided_date_not_in_future(w):
    p = ready(w)
    with pytest.raises(ValidationFailed):
        services.mark_provided(db.session, p, actor=w["officer"], provided_on=TODAY + timedelta(days=1), today=TODAY)


def test_reject_needs_reason(w):
    p = create(w)
    with pytest.raises(ValidationFailed):
        services.reject_provision(db.session, p, actor=w["officer"], reason=" ")
    services.reject_provision(db.session, p, actor=w["officer"], reason="withdrawn by the partner")
    assert p.effective_status == ProvisionStatus.REJECTED


# ------------------------------------------------------------------ status twin, flags

def test_status_condition_matches_effective_status(w):
    made = {"requested": create(w), "approved": None, "provided": None, "rejected": create(w)}
    p = create(w)
    review(w, p)
    approved(w, p)
    made["approved"] = p
    made["provided"] = ready(w)
    services.mark_provided(db.session, made["provided"], actor=w["officer"], today=TODAY)
    services.reject_provision(db.session, made["rejected"], actor=w["officer"], reason="no")
    db.session.flush()
    db.session.expire_all()
    for status in ProvisionStatus.values():
        ids = set(db.session.scalars(sa.select(Provision.id).where(services.status_condition(status))))
        expected = {q.id for q in db.session.scalars(sa.select(Provision)) if q.effective_status.value == status}
        assert ids == expected, status
        assert made[status].id in ids


def test_supervision_flags(w):
    p = create(w)
    assert [f.code for f in rules.supervision_flags(p)] == ["secrecy_review_missing", "approval_required",
                                                            "agreement_missing"]
    review(w, p)
    services.request_approval(db.session, p, actor=w["officer"])
    assert [f.code for f in rules.supervision_flags(p)] == ["approval_pending", "agreement_missing"]
    low = create(w, level="internal")
    review(w, low)
    assert rules.supervision_flags(low) == []


# ------------------------------------------------------------------ API

@pytest.fixture
def ids(app):
    with app.app_context():
        project = h.project()
        pending = h.project(review_status="pending")
        reviewer = h.person()
        db.session.commit()
        return {"project": project.id, "pending": pending.id, "reviewer": reviewer.id}


def _body(ids, **kw):
    data = {"project_id": ids["project"], "material": "Wind tunnel summary", "level": "confidential",
            "recipient": "DLR", "recipient_country": "DE", "purpose": "comparison", "legal_basis": "Art. 5"}
    data.update(kw)
    return data


def test_api_roundtrip(app, api, ids):
    officer, approver = api("officer"), api("approver")
    resp = officer.post("/api/v1/provisions", json=_body(ids))
    assert resp.status_code == 201, resp.get_json()
    p = resp.get_json()
    for key in ("id", "project_id", "material", "asset_id", "level", "recipient", "recipient_country", "purpose",
                "legal_basis", "approval_id", "agreement_no", "agreement_signed_on", "provided_on", "status"):
        assert key in p
    assert p["status"] == "requested"
    pid = p["id"]
    early = officer.post(f"/api/v1/provisions/{pid}/approval", json={})
    assert early.status_code == 403 and early.get_json()["error"]["code"] == "secrecy_review_missing"
    patched = officer.patch(f"/api/v1/provisions/{pid}", json={
        "reviewer_id": ids["reviewer"], "reviewed_on": TODAY.isoformat(), "review_outcome": "passed"})
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["review_outcome"] == "passed"
    req = officer.post(f"/api/v1/provisions/{pid}/approval", json={"purpose": "hand over"})
    assert req.status_code == 201 and req.get_json()["kind"] == "provision"
    aid = req.get_json()["id"]
    refused = officer.post(f"/api/v1/provisions/{pid}/provided", json={})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "approval_required"
    assert approver.post(f"/api/v1/approvals/{aid}/decision", json={"decision": "approved"}).status_code == 200
    assert officer.get(f"/api/v1/provisions/{pid}").get_json()["status"] == "approved"
    refused = officer.post(f"/api/v1/provisions/{pid}/provided", json={})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "agreement_missing"
    agreed = officer.patch(f"/api/v1/provisions/{pid}", json={"agreement_no": "BMXY-1",
                                                               "agreement_signed_on": TODAY.isoformat()})
    assert agreed.get_json()["agreement_no"] == "BMXY-1"
    done = officer.post(f"/api/v1/provisions/{pid}/provided", json={"provided_on": TODAY.isoformat()})
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["status"] == "provided" and body["provided_on"] == TODAY.isoformat() and body["approval_id"] == aid
    assert body["flags"] == []
    listing = api("inspector").get("/api/v1/provisions?status=provided").get_json()
    assert [i["id"] for i in listing["items"]] == [pid]
    assert api("inspector").get("/api/v1/provisions?status=requested").get_json()["total"] == 0
    with app.app_context():
        assert len(h.events("provision_denied")) == 3


def test_api_refusals_and_validation(app, api, ids):
    officer = api("officer")
    resp = officer.post("/api/v1/provisions", json=_body(ids, project_id=ids["pending"]))
    assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "project_review_pending"
    resp = officer.post("/api/v1/provisions", json=_body(ids, status="provided"))
    assert resp.status_code == 422 and "status" in resp.get_json()["error"]["details"]
    resp = officer.post("/api/v1/provisions", json=_body(ids, recipient_country="XX"))
    assert resp.status_code == 422
    assert api("inspector").post("/api/v1/provisions", json=_body(ids)).status_code == 403
    assert api("staff").get("/api/v1/provisions").status_code == 403
    assert officer.get("/api/v1/provisions?status=bogus").status_code == 422
    assert officer.post("/api/v1/provisions/9999/provided", json={}).status_code == 404


def test_api_create_with_all_steps(app, api, ids):
    body = _body(ids, level="internal", reviewer_id=ids["reviewer"], reviewed_on=TODAY.isoformat(),
                 review_outcome="passed", agreement_no="A-1", agreement_signed_on=TODAY.isoformat())
    resp = api("officer").post("/api/v1/provisions", json=body)
    assert resp.status_code == 201, resp.get_json()
    p = resp.get_json()
    assert p["review_outcome"] == "passed" and p["agreement_no"] == "A-1" and p["flags"] == []
    done = api("officer").post(f"/api/v1/provisions/{p['id']}/provided", json={})
    assert done.status_code == 200 and done.get_json()["status"] == "provided"


# ------------------------------------------------------------------ pages and CLI

def test_pages_walk_the_steps(app, as_role, ids):
    officer = as_role("officer")
    assert officer.get("/provisions/new").status_code == 200
    resp = officer.post("/provisions/new", data=_body(ids, asset_no=""))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    pid = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    show = officer.get(f"/provisions/{pid}").get_data(as_text=True)
    assert "Record the secrecy review" in show and "No secrecy review" in show
    refused = officer.post(f"/provisions/{pid}/provided", data={}, follow_redirects=True).get_data(as_text=True)
    assert "secrecy_review_missing" in refused
    officer.post(f"/provisions/{pid}/review", data={"reviewer_id": ids["reviewer"], "reviewed_on": TODAY.isoformat(),
                                                    "review_outcome": "passed", "review_conclusion": ""})
    officer.post(f"/provisions/{pid}/treatment", data={"treatment": "none_needed", "treated_on": TODAY.isoformat()})
    officer.post(f"/provisions/{pid}/approval", data={"purpose": "hand over"})
    officer.post(f"/provisions/{pid}/agreement", data={"agreement_no": "BM-9", "agreement_signed_on": TODAY.isoformat(),
                                                       "agreement_parties": "A / B"})
    with app.app_context():
        p = db.session.get(Provision, pid)
        assert p.review_outcome.value == "passed" and p.treatment.value == "none_needed" and p.has_agreement
        approval_id = p.approval_id
        assert p.approval.status == ApprovalStatus.PENDING
    refused = officer.post(f"/provisions/{pid}/provided", data={}, follow_redirects=True).get_data(as_text=True)
    assert "approval_required" in refused
    approver = as_role("approver")
    approver.post(f"/approvals/{approval_id}/decide", data={"decision": "approved", "reason": "ok"})
    done = officer.post(f"/provisions/{pid}/provided", data={"provided_on": TODAY.isoformat()}, follow_redirects=True)
    assert "Recorded as provided." in done.get_data(as_text=True)
    register = as_role("inspector").get("/provisions/?status=provided").get_data(as_text=True)
    assert "Wind tunnel summary" in register and "Complete" in register
    assert as_role("inspector").post(f"/provisions/{pid}/reject", data={"reason": "x"}).status_code == 403


def test_page_refuses_pending_project(app, as_role, ids):
    resp = as_role("officer").post("/provisions/new", data=_body(ids, project_id=ids["pending"], asset_no=""))
    assert resp.status_code == 200 and "project_review_pending" in resp.get_data(as_text=True)
    with app.app_context():
        assert len(h.events("provision_denied", "project_review_pending")) == 1


def test_cli(app, runner, ids):
    with app.app_context():
        officer = h.user("officer")
        p = services.create_provision(db.session, {
            "project_id": ids["project"], "material": "CLI material", "level": "confidential", "recipient": "DLR",
            "recipient_country": "DE", "purpose": "x", "legal_basis": "y"}, actor=officer)
        services.record_review(db.session, p, {"reviewer_id": ids["reviewer"], "review_outcome": "passed"},
                               actor=officer)
        db.session.commit()
        pid = p.id
    listing = runner.invoke(args=["provisions", "list"])
    assert listing.exit_code == 0 and "CLI material" in listing.output and "approval_required" in listing.output
    refused = runner.invoke(args=["provisions", "provided", str(pid)])
    assert refused.exit_code == 1 and "approval_required" in refused.output
    with app.app_context():
        assert len(h.events("provision_denied", "approval_required")) == 1
    shown = runner.invoke(args=["provisions", "show", str(pid)])
    assert shown.exit_code == 0 and "requested" in shown.output
