"""Destruction (销毁): every rule with its reason code (asset_destroyed, asset_unavailable, witness_invalid,
approval_required, self_approval), destroyed items stay destroyed (no checkout, no edit), and the
wiring of pages, API and CLI."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from registry.approvals import services as approvals
from registry.approvals.models import ApprovalStatus
from registry.assets import services as custody
from registry.assets.models import AssetStatus
from registry.core.errors import Forbidden, RuleViolation, ValidationFailed
from registry.extensions import db
from registry.stocktake import services
from tests.people import helpers as h

TODAY = date.today()


@pytest.fixture
def w(ctx):
    performer, w1, w2, w3 = h.person(name="Performer"), h.person(name="W1"), h.person(name="W2"), h.person(name="W3")
    world = {
        "officer": h.user("officer"), "approver": h.user("approver"),
        "approver_w1": h.user("approver", person_id=w1.id), "approver_perf": h.user("approver", person_id=performer.id),
        "performer": performer, "w1": w1, "w2": w2, "w3": w3,
        "items": [h.asset(), h.asset(level="secret")], "other": h.asset(),
    }
    db.session.commit()
    return world


def request(w, items=None, approver="approver", decision="approved"):
    a = services.request_destruction_approval(db.session, items or w["items"], actor=w["officer"], purpose="obsolete")
    if decision:
        approvals.decide(db.session, a, decision=decision, reason="ok" if decision == "approved" else "no",
                         actor=w[approver])
    return a


def data(w, **kw):
    d = {"asset_ids": [a.id for a in w["items"]], "method": "shredding", "destroyed_on": TODAY, "approval_id": None,
         "performed_by": w["performer"].id, "witness_ids": [w["w1"].id, w["w2"].id], "place": "Secrecy room",
         "note": ""}
    d.update(kw)
    return d


def destroy(w, **kw):
    return services.record_destruction(db.session, data(w, **kw), actor=w["officer"], today=TODAY)


def test_destruction_makes_items_destroyed_for_good(w):
    a = request(w)
    record = destroy(w)
    assert record.asset_ids == sorted(x.id for x in w["items"]) and record.witness_ids == sorted([w["w1"].id, w["w2"].id])
    assert record.approval_id == a.id and a.status == ApprovalStatus.USED and a.used_for == f"destructions#{record.id}"
    db.session.expire_all()
    assert all(x.status == AssetStatus.DESTROYED for x in w["items"])
    assert h.audit_actions("destruction.") == ["destruction.create"]
    assert h.audit_actions("asset.destroyed") == ["asset.destroyed", "asset.destroyed"]
    # custody refuses every later change of a destroyed item
    with pytest.raises(RuleViolation) as exc:
        custody.checkout(db.session, w["items"][0], h.person(), actor=w["officer"], purpose="x")
    assert exc.value.code == "asset_destroyed"
    with pytest.raises(RuleViolation) as exc:
        custody.update_asset(db.session, w["items"][0], {"title": "new"}, actor=w["officer"])
    assert exc.value.code == "asset_destroyed"
    # and a second destruction of the same item
    with pytest.raises(RuleViolation) as exc:
        destroy(w)
    assert exc.value.code == "asset_destroyed"


def test_missing_items_may_be_destroyed(w):
    custody.set_status(db.session, w["items"][0], AssetStatus.MISSING, actor=None)
    request(w)
    record = destroy(w)
    assert record.asset_ids == sorted(x.id for x in w["items"])
    db.session.expire_all()
    assert all(x.status == AssetStatus.DESTROYED for x in w["items"])


@pytest.mark.parametrize("witnesses, performer_among", [
    (["w1"], False),              # only one witness
    (["w1", "w1"], False),        # the same witness twice
    (["w1", "performer"], True),  # the performer witnesses himself
    ([], False),
])
def test_witness_invalid(w, witnesses, performer_among):
    request(w)
    with pytest.raises((RuleViolation, ValidationFailed)) as exc:
        destroy(w, witness_ids=[w[k].id for k in witnesses])
    if witnesses:
        assert exc.value.code == "witness_invalid" and exc.value.event_kind == "destruction_denied"
    else:
        assert exc.value.code in ("witness_invalid", "validation_error")


def test_inactive_witness_refused(w):
    from registry.people import services as people

    request(w)
    people.leave(db.session, w["w2"], actor=None, home_country="CN", today=TODAY)
    with pytest.raises(RuleViolation) as exc:
        destroy(w)
    assert exc.value.code == "witness_invalid" and exc.value.details["inactive"] == [w["w2"].id]


@pytest.mark.parametrize("case", ["none", "pending", "rejected", "other_items", "used", "wrong_kind"])
def test_approval_required(w, case):
    approval_id = None
    if case == "pending":
        request(w, decision=None)
    elif case == "rejected":
        request(w, decision="rejected")
    elif case == "other_items":
        request(w, items=[w["items"][0]])
    elif case == "used":
        a = request(w)
        approvals.consume(db.session, a, actor=None)
        approval_id = a.id
    elif case == "wrong_kind":
        a = approvals.request_approval(db.session, kind="copy", actor=w["officer"], purpose="x",
                                       asset_id=w["items"][0].id)
        approvals.decide(db.session, a, decision="approved", reason="", actor=w["approver"])
        approval_id = a.id
    with pytest.raises(RuleViolation) as exc:
        destroy(w, approval_id=approval_id)
    assert exc.value.code == "approval_required"


@pytest.mark.parametrize("decider", ["approver_w1", "approver_perf"])
def test_self_approval(w, decider):
    request(w, approver=decider)
    with pytest.raises(RuleViolation) as exc:
        destroy(w)
    assert exc.value.code == "self_approval"


def test_checked_out_item_cannot_be_destroyed(w):
    request(w)
    h.checkout(w["items"][0], h.person(), w["officer"])
    with pytest.raises(RuleViolation) as exc:
        destroy(w)
    assert exc.value.code == "asset_unavailable" and exc.value.subject.id == w["items"][0].id
    with pytest.raises(RuleViolation) as exc:
        services.request_destruction_approval(db.session, [w["items"][0]], actor=w["officer"], purpose="x")
    assert exc.value.code == "asset_unavailable"


@pytest.mark.parametrize("kw, field", [
    ({"asset_ids": []}, "asset_ids"), ({"asset_ids": [99999]}, "asset_ids"), ({"method": "burying"}, "method"),
    ({"destroyed_on": TODAY + timedelta(days=1)}, "destroyed_on"), ({"performed_by": None}, "performed_by"),
    ({"witness_ids": [99999, 99998]}, "witness_ids"), ({"approval_id": 99999}, "approval_id"),
])
def test_validation(w, kw, field):
    with pytest.raises(ValidationFailed) as exc:
        destroy(w, **kw)
    assert field in exc.value.details


def test_who_may_request_and_record(w):
    with pytest.raises(Forbidden):
        approvals.request_approval(db.session, kind="destruction", actor=h.user("staff"), purpose="x",
                                   asset_ids=[w["other"].id])
    with pytest.raises(Forbidden):
        services.record_destruction(db.session, data(w), actor=h.user("inspector"))


# ------------------------------------------------------------------ API, pages, CLI

@pytest.fixture
def ids(app):
    with app.app_context():
        officer = h.user("officer")
        approver = h.user("approver")
        performer, w1, w2 = h.person(), h.person(), h.person()
        items = [h.asset(), h.asset()]
        a = services.request_destruction_approval(db.session, items, actor=officer, purpose="obsolete")
        approvals.decide(db.session, a, decision="approved", reason="ok", actor=approver)
        db.session.commit()
        return {"items": [i.id for i in items], "regs": [i.registry_no for i in items], "approval": a.id,
                "performer": performer.id, "performer_no": performer.employee_no, "w": [w1.id, w2.id],
                "w_no": [w1.employee_no, w2.employee_no]}


def _body(ids, **kw):
    body = {"asset_ids": ids["items"], "method": "degaussing", "destroyed_on": TODAY.isoformat(),
            "approval_id": ids["approval"], "performed_by": ids["performer"], "witness_ids": ids["w"]}
    body.update(kw)
    return body


def test_api(app, api, ids):
    officer = api("officer")
    bad = officer.post("/api/v1/destructions", json=_body(ids, witness_ids=[ids["w"][0], ids["performer"]]))
    assert bad.status_code == 403 and bad.get_json()["error"]["code"] == "witness_invalid"
    bad = officer.post("/api/v1/destructions", json=_body(ids, asset_ids=ids["items"][:1]))
    assert bad.status_code == 403 and bad.get_json()["error"]["code"] == "approval_required"
    assert officer.post("/api/v1/destructions", json=_body(ids, extra=1)).status_code == 422
    assert api("inspector").post("/api/v1/destructions", json=_body(ids)).status_code == 403
    resp = officer.post("/api/v1/destructions", json=_body(ids))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert {k: body[k] for k in ("asset_ids", "method", "destroyed_on", "approval_id", "performed_by", "witness_ids")} \
        == {"asset_ids": sorted(ids["items"]), "method": "degaussing", "destroyed_on": TODAY.isoformat(),
            "approval_id": ids["approval"], "performed_by": ids["performer"], "witness_ids": sorted(ids["w"])}
    again = officer.post("/api/v1/destructions", json=_body(ids))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "asset_destroyed"
    item = officer.get(f"/api/v1/assets/{ids['items'][0]}")
    if item.status_code == 200:
        assert item.get_json()["status"] == "destroyed"
    listing = api("inspector").get("/api/v1/destructions").get_json()
    assert listing["total"] == 1 and api("inspector").get(f"/api/v1/destructions/{body['id']}").status_code == 200
    with app.app_context():
        assert [e.reason for e in h.events("destruction_denied")] == ["witness_invalid", "approval_required",
                                                                      "asset_destroyed"]


def test_pages(app, as_role, ids):
    officer = as_role("officer")
    form = officer.get(f"/destructions/new?items={ids['regs'][0]}").get_data(as_text=True)
    assert ids["regs"][0] in form and f"#{ids['approval']}" in form
    data = {"asset_nos": "\n".join(ids["regs"]), "method": "shredding", "destroyed_on": TODAY.isoformat(),
            "approval_id": "", "performed_by": ids["performer"], "witness_1": ids["w"][0],
            "witness_2": ids["performer"], "witness_3": "", "place": "Room 1", "note": ""}
    refused = officer.post("/destructions/new", data=data)
    assert refused.status_code == 200 and "witness_invalid" in refused.get_data(as_text=True)
    data["witness_2"] = ids["w"][1]
    resp = officer.post("/destructions/new", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:1500]
    shown = officer.get(resp.headers["Location"]).get_data(as_text=True)
    assert ids["regs"][0] in shown and ids["regs"][1] in shown
    register = as_role("inspector").get("/destructions/").get_data(as_text=True)
    assert ids["regs"][0] in register
    assert as_role("inspector").get("/destructions/new").status_code == 403


def test_page_requests_the_approval(app, as_role):
    with app.app_context():
        item = h.asset()
        db.session.commit()
        reg = item.registry_no
    officer = as_role("officer")
    resp = officer.post("/destructions/approval", data={"req-asset_nos": reg, "req-purpose": "obsolete"},
                        follow_redirects=True)
    assert "Destruction approval #" in resp.get_data(as_text=True)
    resp = officer.post("/destructions/approval", data={"req-asset_nos": "NO-SUCH-1", "req-purpose": "x"},
                        follow_redirects=True)
    assert "Unknown registry numbers" in resp.get_data(as_text=True)


def test_cli(app, runner, ids):
    args = ["stocktake", "destroy", *ids["regs"], "--method", "incineration", "--performer", ids["performer_no"],
            "--witness", ids["w_no"][0]]
    refused = runner.invoke(args=args)
    assert refused.exit_code == 1 and "witness_invalid" in refused.output
    out = runner.invoke(args=args + ["--witness", ids["w_no"][1], "--place", "Incinerator"])
    assert out.exit_code == 0, out.output
    assert "2 items destroyed" in out.output
    assert ids["regs"][0] in runner.invoke(args=["stocktake", "destructions"]).output
    with app.app_context():
        assert len(h.events("destruction_denied", "witness_invalid")) == 1
