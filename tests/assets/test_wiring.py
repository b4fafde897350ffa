"""Every custody refusal through the page, the JSON API and the CLI: the same status, the same
reason code, and a security event row for each."""

from __future__ import annotations

import pytest
from markupsafe import escape

from registry.core.errors import REASONS
from registry.extensions import db
from tests.assets import helpers as h
from tests.assets.conftest import Scenarios, security_events

EN = {"Accept-Language": "en"}


def _message(app, reason):
    with app.test_request_context(headers=EN):
        return str(REASONS[reason][1])


def _assert_recorded(app, reason, kind, actor=None):
    events = security_events(app, reason)
    assert len(events) == 1, [(e.kind, e.reason) for e in events]
    assert events[0].kind == kind
    if actor is not None:
        assert events[0].actor == actor


@pytest.mark.parametrize("reason", Scenarios.CHECKOUT_REASONS)
def test_api_checkout_refusal(app, api, make, scenarios, reason):
    sc = scenarios.build(reason)
    client = api("staff", person_id=sc["borrower_id"]) if sc["staff"] else api("officer")
    resp = client.post(f"/api/v1/assets/{sc['asset_id']}/checkout",
                       json={"borrower_id": sc["borrower_id"], "purpose": "work", **sc["payload"]})
    assert resp.status_code == REASONS[reason][0], resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == reason and error["message"]
    _assert_recorded(app, reason, "checkout_denied")


@pytest.mark.parametrize("reason", Scenarios.CHECKOUT_REASONS)
def test_page_checkout_refusal(app, as_role, scenarios, reason):
    sc = scenarios.build(reason)
    client = as_role("staff", person_id=sc["borrower_id"]) if sc["staff"] else as_role("officer")
    resp = client.post(f"/items/{sc['asset_id']}/checkout", headers=EN,
                       data={"borrower_id": sc["borrower_id"], "purpose": "work", **sc["payload"]})
    assert resp.status_code == REASONS[reason][0]
    html = resp.get_data(as_text=True)
    assert 'class="refusal"' in html and reason in html
    message = _message(app, reason)
    assert message in html or str(escape(message)) in html
    _assert_recorded(app, reason, "checkout_denied", actor=client.username)


@pytest.mark.parametrize("reason", [r for r in Scenarios.CHECKOUT_REASONS if r != "self_checkout_not_allowed"])
def test_cli_checkout_refusal(app, runner, scenarios, make, reason):
    sc = scenarios.build(reason)
    officer = make.user("officer")
    args = ["assets", "checkout", sc["registry_no"], "--borrower", sc["employee_no"], "--purpose", "work",
            "--by", _username(app, officer)]
    payload = sc["payload"]
    if "due_at" in payload:
        args += ["--due", payload["due_at"]]
    if "device_id" in payload:
        args += ["--device", sc["device_no"]]
    if "approval_id" in payload:
        args += ["--approval", str(payload["approval_id"])]
    result = runner.invoke(args=args)
    assert result.exit_code == 1, result.output
    assert f"[{reason}]" in result.output
    _assert_recorded(app, reason, "checkout_denied")


def test_cli_self_checkout_is_not_a_console_matter(app, runner, scenarios):
    """The console acts as the office: rule 9 concerns staff only, so the same checkout passes there
    until the next rule (approval for ≥ secret) refuses it."""
    sc = scenarios.build("self_checkout_not_allowed")
    result = runner.invoke(args=["assets", "checkout", sc["registry_no"], "--borrower", sc["employee_no"],
                                 "--purpose", "x"])
    assert result.exit_code == 1 and "[approval_required]" in result.output


def _username(app, user_id):
    from registry.auth.models import User

    with app.app_context():
        return db.session.get(User, user_id).username


def _available_item(app, **kw):
    with app.app_context():
        a = h.asset(**kw)
        db.session.commit()
        return a.id, a.registry_no


def test_not_checked_out_everywhere(app, api, as_role, runner):
    asset_id, number = _available_item(app, level="internal")
    resp = api("officer").post(f"/api/v1/assets/{asset_id}/checkin", json={"condition": "intact"})
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_checked_out"
    resp = as_role("officer").post(f"/items/{asset_id}/checkin", data={"condition": "intact"}, headers=EN)
    assert resp.status_code == 409 and "not_checked_out" in resp.get_data(as_text=True)
    result = runner.invoke(args=["assets", "checkin", number])
    assert result.exit_code == 1 and "[not_checked_out]" in result.output
    events = security_events(app, "not_checked_out")
    assert len(events) == 3 and {e.kind for e in events} == {"checkin_denied"}


def _edit_case(app, reason):
    from registry.assets import services

    with app.app_context():
        if reason == "downgrade_refused":
            a = h.asset(kind="computer", level="secret")
            change = {"level": "confidential"}
        elif reason == "inspection_required":
            a = h.asset(kind="equipment", level="internal", foreign_supplied=True)
            change = {"room_id": h.room(level="secret").id}
        else:
            a = h.asset(kind="media", level="internal")
            services.mark_destroyed(db.session, a, actor=None)
            change = {"title": "changed"}
        db.session.commit()
        return a.id, change


@pytest.mark.parametrize("reason", ["downgrade_refused", "inspection_required", "asset_destroyed"])
def test_edit_refusals_api_and_page(app, api, as_role, reason):
    from registry.assets import services

    asset_id, change = _edit_case(app, reason)
    resp = api("officer").patch(f"/api/v1/assets/{asset_id}", json=change)
    assert resp.status_code == REASONS[reason][0] and resp.get_json()["error"]["code"] == reason
    with app.app_context():
        form = services.serialize(services.get_asset(db.session, asset_id))
    form = {k: ("y" if v is True else "" if v in (None, False) else v) for k, v in form.items()
            if k not in ("scope", "id", "status", "label_code", "original_id")}
    form.update({k: str(v) for k, v in change.items()})
    resp = as_role("officer").post(f"/items/{asset_id}/edit", data=form, headers=EN)
    assert resp.status_code == REASONS[reason][0], resp.get_data(as_text=True)[:2000]
    assert reason in resp.get_data(as_text=True)
    events = security_events(app, reason)
    assert len(events) == 2 and {e.kind for e in events} == {"asset_change_denied"}
