"""Custody pages: registers, action page, desk batch, scanning (/scan, /s/<code>) without an existence
oracle, label images whose QR decodes to the scan URL, printable sheets, CLI, dashboard, demo."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import sqlalchemy as sa

from registry.extensions import db
from tests.assets import helpers as h
from tests.assets.conftest import security_events
from tests.auth.test_request_setup import _statements

EN = {"Accept-Language": "en"}


def _items(app, *specs):
    with app.app_context():
        out = [h.asset(**spec) for spec in specs]
        db.session.commit()
        return [(a.id, a.registry_no, a.label_code) for a in out]


# ------------------------------------------------------------------ registers

@pytest.mark.parametrize("url", ["/items/", "/items/?kind=media", "/items/?kind=computer", "/items/?kind=storage",
                                 "/items/?kind=equipment", "/items/?overdue=1&level=secret&status=available",
                                 "/items/new", "/items/new?kind=computer", "/checkouts/", "/checkouts/?overdue=1",
                                 "/checkouts/?open=0", "/desk/checkout", "/desk/checkin", "/scan", "/approvals/",
                                 "/approvals/new", "/print/labels"])
def test_officer_pages_render(app, as_role, url):
    _items(app, {"kind": "computer", "level": "secret"}, {"kind": "equipment", "level": "internal",
                                                          "foreign_supplied": True})
    resp = as_role("officer").get(url, headers=EN)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:3000]
    assert "style=" not in resp.get_data(as_text=True)


def test_item_pages_and_history(app, as_role):
    (aid, number, code), = _items(app, {"kind": "equipment", "level": "internal", "foreign_supplied": True})
    officer = as_role("officer")
    for url in (f"/items/{aid}", f"/items/{aid}/act", f"/items/{aid}/edit", f"/items/{aid}/copy"):
        resp = officer.get(url, headers=EN)
        assert resp.status_code == 200, url
    assert officer.post(f"/items/{aid}/inspections", data={"date": "2026-01-05", "inspector": "检测中心",
                                                           "result": "passed"}).status_code == 302
    assert officer.post(f"/items/{aid}/label", data={"reason": "lost"}).status_code == 302
    html = officer.get(f"/items/{aid}", headers=EN).get_data(as_text=True)
    assert "检测中心" in html and "asset.label_reissue" in html and "asset.inspection" in html
    assert "Label history (2)" in html


def test_register_and_edit_through_the_form(app, as_role):
    with app.app_context():
        p = h.person()
        db.session.commit()
        pid = p.id
    officer = as_role("officer")
    resp = officer.post("/items/new", data={"kind": "storage", "subtype": "usb_flash", "title": "U盘", "level": "secret",
                                            "capacity": "64 GB", "custodian_id": pid,
                                            "scope_departments": "Lab 1\nLab 2", "scope_person_ids": [pid]})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    aid = int(re.search(r"/items/(\d+)", resp.headers["Location"]).group(1))
    with app.app_context():
        from registry.assets.models import Asset

        a = db.session.get(Asset, aid)
        assert a.registry_no.startswith("YD-") and a.scope == {"departments": ["Lab 1", "Lab 2"], "person_ids": [pid]}
    resp = officer.post("/items/new", data={"kind": "media", "subtype": "laptop", "title": "x", "level": "secret"})
    assert resp.status_code == 422


def test_staff_see_only_their_scope_and_guards_see_nothing(app, as_role):
    with app.app_context():
        me = h.person(category="general", department="Lab 1")
        mine = h.asset(level="confidential", title="Visible plan")
        hidden = h.asset(level="confidential", title="Hidden plan", scope_departments=["Lab 2"])
        secret = h.asset(level="secret", title="Secret plan")
        db.session.commit()
        me_id, hidden_id, hidden_code = me.id, hidden.id, hidden.label_code
    staff = as_role("staff", person_id=me_id)
    html = staff.get("/items/", headers=EN).get_data(as_text=True)
    assert "Visible plan" in html and "Hidden plan" not in html and "Secret plan" not in html
    assert staff.get(f"/items/{hidden_id}").status_code == 404
    assert staff.get(f"/items/{hidden_id}/act").status_code == 404
    guard = as_role("guard")
    for url in ("/items/", f"/items/{hidden_id}", "/checkouts/", "/scan"):
        assert guard.get(url).status_code == 403, url
    assert guard.get(f"/labels/{hidden_code}.svg").status_code == 403


# ------------------------------------------------------------------ desk: action page, check out and in

def test_desk_checkout_then_checkin_on_the_action_page(app, as_role):
    with app.app_context():
        b = h.person()
        a = h.asset(level="confidential")
        db.session.commit()
        bid, aid = b.id, a.id
    officer = as_role("officer")
    resp = officer.post(f"/items/{aid}/checkout", data={"borrower_id": bid, "purpose": "audit", "due_at": ""})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/items/{aid}/act")
    html = officer.get(f"/items/{aid}/act", headers=EN).get_data(as_text=True)
    assert "Checked out to" in html and 'id="checkin-form"' in html
    resp = officer.post(f"/items/{aid}/checkin", data={"condition": "incomplete", "note": "page 3 missing"})
    assert resp.status_code == 302
    html = officer.get(f"/items/{aid}/act", headers=EN).get_data(as_text=True)
    assert "return discrepancy was recorded" in html and 'id="checkout-form"' in html
    assert len(security_events(app, "incomplete")) == 1


def test_staff_self_service_page(app, as_role):
    with app.app_context():
        me = h.person(category="important")         # may see secret items, self-checkout ≤ confidential
        ok = h.asset(level="confidential")
        needs = h.asset(level="secret")
        db.session.commit()
        me_id, ok_id, needs_id = me.id, ok.id, needs.id
    staff = as_role("staff", person_id=me_id)
    html = staff.get(f"/items/{ok_id}/act", headers=EN).get_data(as_text=True)
    assert "Check out to me" in html
    resp = staff.post(f"/items/{ok_id}/checkout", data={"purpose": "reading", "borrower_id": 999})
    assert resp.status_code == 302
    with app.app_context():
        from registry.assets.models import Checkout

        assert db.session.scalar(sa.select(Checkout.borrower_id).where(Checkout.asset_id == ok_id)) == me_id
    html = staff.get(f"/items/{needs_id}/act", headers=EN).get_data(as_text=True)
    assert "self_checkout_not_allowed" in html and "Request a checkout approval" in html


def test_batch_checkout_lists_refusals(app, as_role):
    with app.app_context():
        b = h.person(category="general", department="Lab 1")
        ok1, ok2 = h.asset(level="internal"), h.asset(level="confidential")
        too_high = h.asset(level="secret")
        out_of_scope = h.asset(level="confidential", scope_departments=["Lab 9"])
        db.session.commit()
        bid = b.id
        items = [ok1, ok2, too_high, out_of_scope]
        codes = [ok1.label_code, ok2.registry_no, f"https://registry.example.test/s/{too_high.label_code}",
                 out_of_scope.label_code]
        ids = [a.id for a in items]
    officer = as_role("officer")
    form = {"borrower_id": bid, "purpose": "inventory", "items": []}
    for code in codes:
        resp = officer.post("/desk/checkout", data={**form, "code": code, "action": "add"}, headers=EN)
        assert resp.status_code == 200
        form["items"] = re.findall(r'name="items" value="(\d+)"', resp.get_data(as_text=True))
    assert [int(i) for i in form["items"]] == ids
    html = resp.get_data(as_text=True)
    assert "clearance_insufficient" in html and "not_in_scope" in html            # previewed before confirming
    resp = officer.post("/desk/checkout", data={**form, "action": "add", "code": codes[0]}, headers=EN)
    assert "already in the list" in resp.get_data(as_text=True)
    resp = officer.post("/desk/checkout", data={**form, "action": "confirm"}, headers=EN)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "2 done, 2 refused" in html
    assert len(security_events(app, "clearance_insufficient")) == 1 and len(security_events(app, "not_in_scope")) == 1
    with app.app_context():
        from registry.assets.models import Checkout

        batches = db.session.scalars(sa.select(Checkout.batch).where(Checkout.asset_id.in_(ids))).all()
        assert len(batches) == 2 and len(set(batches)) == 1 and batches[0]


def test_batch_checkin(app, as_role):
    from registry.assets import services

    with app.app_context():
        b = h.person()
        a1, a2, a3 = h.asset(level="internal"), h.asset(level="internal"), h.asset(level="internal")
        services.checkout(db.session, a1, b, actor=None, purpose="x")
        services.checkout(db.session, a2, b, actor=None, purpose="x")
        db.session.commit()
        ids = [a1.id, a2.id, a3.id]
    officer = as_role("officer")
    data = {"items": ids, "action": "confirm", f"condition_{ids[0]}": "intact", f"condition_{ids[1]}": "damaged"}
    html = officer.post("/desk/checkin", data=data, headers=EN).get_data(as_text=True)
    assert "2 done, 1 refused" in html and "not_checked_out" in html
    assert len(security_events(app, "damaged")) == 1 and len(security_events(app, "not_checked_out")) == 1


# ------------------------------------------------------------------ scanning

def test_scan_input_resolves_url_code_and_registry_number(app, as_role):
    (aid, number, code), = _items(app, {"level": "internal"})
    officer = as_role("officer")
    for text in (code, f"https://registry.example.test/s/{code}", f"https://evil.example/s/{code}", number.lower(),
                 f"  {number}  "):
        resp = officer.post("/scan", data={"code": text})
        assert resp.status_code == 302 and resp.headers["Location"] == f"/items/{aid}/act", text
    for text in ("https://evil.example/", "//evil.example", "<script>alert(1)</script>", "x" * 1000, ""):
        resp = officer.post("/scan", data={"code": text})
        assert resp.status_code in (404, 400) and "Location" not in resp.headers
        assert "<script>alert" not in resp.get_data(as_text=True)


def test_scan_page_refuses_and_records_a_revoked_label(app, as_role):
    from registry.assets import services

    with app.app_context():
        a = h.asset(level="internal")
        old = a.label_code
        services.reissue_label(db.session, a, actor=None)
        db.session.commit()
    resp = as_role("officer").post("/scan", data={"code": old}, headers=EN)
    assert resp.status_code == 410 and "revoked" in resp.get_data(as_text=True)
    assert [e.kind for e in security_events(app, "label_revoked")] == ["revoked_label_scanned"]


def _codes(app):
    """A valid, a revoked and an unknown label code for a top-secret item in a narrow scope."""
    from registry.assets import services

    with app.app_context():
        a = h.asset(level="top_secret", scope_departments=["Lab 9"])
        revoked = a.label_code
        services.reissue_label(db.session, a, actor=None)
        db.session.commit()
        return {"valid": a.label_code, "revoked": revoked, "unknown": "Q" * 20, "malformed": "a.b"}, a.id


def _normalised(resp, code):
    """Status and body with the code itself and the (time-stamped) CSRF token blanked out."""
    body = re.sub(r'(csrf-token" content=|name="csrf_token" value=)"[^"]*"', r'\1""', resp.get_data(as_text=True))
    return resp.status_code, body.replace(code, "CODE")


def test_scan_url_has_no_existence_oracle_when_signed_out(app, client):
    codes, _aid = _codes(app)
    answers = {k: _normalised(client.get(f"/s/{c}"), c) for k, c in codes.items()}
    assert len(set(answers.values())) == 1, answers.keys()
    assert answers["valid"][0] == 200
    assert security_events(app, "label_revoked") == []   # nothing was looked up


@pytest.mark.parametrize("role", ["guard", "staff"])
def test_scan_url_has_no_existence_oracle_when_not_allowed(app, as_role, role):
    codes, _aid = _codes(app)
    c = as_role(role, person_id=None) if role == "guard" else as_role(role, person_id=_person(app))
    answers = {k: _normalised(c.get(f"/s/{v}"), v) for k, v in codes.items()}
    assert len(set(answers.values())) == 1
    assert answers["valid"][0] == 404
    assert len(security_events(app, "label_revoked")) == 1   # recorded, but not shown


def _person(app):
    with app.app_context():
        p = h.person(category="core", department="Lab 1")
        db.session.commit()
        return p.id


def test_scan_url_for_the_officer(app, as_role):
    codes, aid = _codes(app)
    officer = as_role("officer")
    resp = officer.get(f"/s/{codes['valid']}")
    assert resp.status_code == 302 and resp.headers["Location"] == f"/items/{aid}/act"
    resp = officer.get(f"/s/{codes['revoked']}", headers=EN)
    assert resp.status_code == 410 and "revoked" in resp.get_data(as_text=True)
    assert officer.get(f"/s/{codes['unknown']}").status_code == 404
    events = security_events(app, "label_revoked")
    assert len(events) == 1 and events[0].subject_id == aid and events[0].actor == officer.username


def test_scan_url_for_staff_follows_the_visibility_rule(app, as_role):
    """The scan loads only what the visibility rule reads (id, custodian, level, status); the rule
    still decides: in scope and cleared, or custodian of an item above the clearance: the action
    page; outside the scope: nothing there."""
    pid = _person(app)   # core (secret clearance), department Lab 1
    with app.app_context():
        in_scope = h.asset(level="secret", scope_departments=["Lab 1"])
        outside = h.asset(level="internal", scope_departments=["Lab 9"])
        kept = h.asset(level="top_secret", custodian_id=pid)
        db.session.commit()
        items = {k: (a.id, a.label_code) for k, a in (("in", in_scope), ("out", outside), ("kept", kept))}
    staff = as_role("staff", person_id=pid)
    answers, seen = _statements(app, lambda: {k: staff.get(f"/s/{code}") for k, (_id, code) in items.items()})
    assert answers["in"].status_code == 302 and answers["in"].headers["Location"] == f"/items/{items['in'][0]}/act"
    assert answers["kept"].status_code == 302
    assert answers["out"].status_code == 404
    by_code = [s for s in seen if "assets.label_code" in s and s.lstrip().startswith("SELECT")]
    assert by_code and all("assets.title" not in s and "assets.level" in s for s in by_code), by_code


# ------------------------------------------------------------------ labels

def test_label_png_decodes_to_the_scan_url(app, api, tmp_path):
    if shutil.which("zbarimg") is None:
        pytest.skip("zbarimg not installed")
    (aid, number, code), = _items(app, {"level": "secret"})
    officer = api("officer")
    resp = officer.get(f"/labels/{code}.png", base_url="http://evil.example")   # the Host never leaks in
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    png = tmp_path / "label.png"
    png.write_bytes(resp.data)
    decoded = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True, text=True, check=True)
    assert decoded.stdout.strip() == f"https://registry.example.test/s/{code}"
    svg = officer.get(f"/labels/{code}.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<script" not in svg.data
    assert b"viewBox" in svg.data
    import sqlite3

    con = sqlite3.connect(tmp_path / "instance" / "cache" / "qr" / "qr.sqlite3")
    cached = [bytes(r[0]) for r in con.execute("SELECT data FROM qr")]
    con.close()
    assert len(cached) == 2 and resp.data in cached and svg.data in cached   # one PNG, one SVG


def test_label_images_come_from_the_cache_and_survive_a_broken_one(app, api, tmp_path, monkeypatch):
    from registry.assets import labels

    (aid, number, code), = _items(app, {"level": "internal"})
    officer = api("officer")
    first = officer.get(f"/labels/{code}.svg")
    assert first.status_code == 200

    def no_render(payload, fmt):
        raise AssertionError("rendered again")

    monkeypatch.setattr(labels, "_render", no_render)
    assert officer.get(f"/labels/{code}.svg").data == first.data        # served from the cache
    monkeypatch.undo()
    # A cache that cannot be opened (a file where its folder should be) only costs the render.
    app.config["CACHE_DIR"] = str(tmp_path / "not-a-dir")
    (tmp_path / "not-a-dir").write_text("x")
    again = officer.get(f"/labels/{code}.svg")
    assert again.status_code == 200 and again.data == first.data


def test_label_images_need_a_session_or_a_bearer(app, client, api):
    (aid, number, code), = _items(app, {"level": "internal"})
    assert client.get(f"/labels/{code}.svg").status_code == 302        # to sign-in
    assert api("officer").get(f"/labels/{code}.png").status_code == 200
    assert api("officer").get("/labels/ZZZZZZZZZZZZZZZZZZZZ.png").status_code == 404


def test_revoked_label_image_is_gone(app, as_role):
    from registry.assets import services

    with app.app_context():
        a = h.asset(level="internal")
        old = a.label_code
        services.reissue_label(db.session, a, actor=None)
        db.session.commit()
    assert as_role("officer").get(f"/labels/{old}.svg").status_code == 410


@pytest.mark.parametrize("geometry,per_sheet", [("a4-3x8", 24), ("a4-2x7", 14), ("a4-4x10", 40),
                                                ("tape-62x29", None), ("tape-40x20", None)])
def test_label_sheet(app, as_role, geometry, per_sheet):
    items = _items(app, *[{"level": "secret", "title": f"TITLE-{i}"} for i in range(26)])
    with app.app_context():
        room = h.room(level="confidential")
        db.session.commit()
        room_id, room_code = room.id, room.code
    query = "&".join(f"asset_ids={i}" for i, _n, _c in items) + f"&room_ids={room_id}&geometry={geometry}"
    resp = as_role("officer").get(f"/print/labels?{query}", headers=EN)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "TITLE-" not in html                                           # never the title
    assert html.count('class="label"') == 27 and room_code in html
    assert all(number in html for _i, number, _c in items)
    assert html.count("band-secret") == 26 and "band-confidential" in html
    assert "Secret★20 years" in html and "示例所" in html
    sheets = html.count('class="label-sheet ')
    assert sheets == (-(-27 // per_sheet) if per_sheet else 1)
    assert "css/labels.css" in html


def test_custom_label_size(app, as_role):
    (aid, number, code), = _items(app, {"level": "internal"})
    officer = as_role("officer")
    html = officer.get(f"/print/labels?asset_ids={aid}&geometry=custom&w=60&h=25").get_data(as_text=True)
    assert "sheet-custom" in html and "/print/labels/custom.css?w=60.0&amp;h=25.0" in html
    css = officer.get("/print/labels/custom.css?w=60&h=25").get_data(as_text=True)
    assert "--label-w: 60.0mm" in css and "size: 60.0mm 25.0mm" in css
    css = officer.get("/print/labels/custom.css?w=9999&h=1").get_data(as_text=True)
    assert "--label-w: 150.0mm" in css and "--label-h: 20.0mm" in css   # clamped


# ------------------------------------------------------------------ copies, approvals pages

def test_copy_page_flow(app, as_role):
    (aid, number, code), = _items(app, {"level": "confidential", "copy_no": 1})
    officer = as_role("officer")
    resp = officer.post(f"/items/{aid}/copy", data={"count": 1}, headers=EN)
    assert resp.status_code == 403 and "approval_required" in resp.get_data(as_text=True)
    with app.app_context():
        requester = h.person()  # a staff member may name only an item within their need-to-know
        db.session.commit()
        rid = requester.id
    staff = as_role("staff", person_id=rid)
    resp = staff.post("/approvals/new", data={"kind": "copy", "asset_id": aid, "purpose": "archive"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    approval_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    approver = as_role("approver")
    assert "Approve" in approver.get("/approvals/", headers=EN).get_data(as_text=True)
    resp = approver.post(f"/approvals/{approval_id}/decide", data={"decision": "approved", "reason": "ok"})
    assert resp.status_code == 302
    resp = officer.post(f"/items/{aid}/copy", data={"count": 1, "approval_id": approval_id})
    assert resp.status_code == 302
    html = officer.get(f"/items/{aid}", headers=EN).get_data(as_text=True)
    assert "copy no. 2" in html


def test_self_approval_on_the_inbox_page(app, as_role):
    with app.app_context():
        p = h.person()
        a = h.asset(level="secret")
        db.session.commit()
        pid, aid = p.id, a.id
    approver = as_role("approver", person_id=pid)
    resp = approver.post("/approvals/new", data={"kind": "checkout", "asset_id": aid, "borrower_id": pid,
                                                 "purpose": "mine"})
    approval_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    html = approver.get("/approvals/", headers=EN).get_data(as_text=True)
    assert "another approver must decide" in html
    resp = approver.post(f"/approvals/{approval_id}/decide", data={"decision": "approved"}, headers=EN)
    assert resp.status_code in (302, 303)
    assert [e.kind for e in security_events(app, "self_approval")] == ["approval_denied"]


# ------------------------------------------------------------------ CLI, dashboard, demo

def test_cli_checkout_checkin_list_overdue(app, runner):
    from datetime import timedelta

    from registry.assets import services

    with app.app_context():
        b = h.person()
        a = h.asset(level="confidential")
        late = h.asset(level="internal")
        services.checkout(db.session, late, b, actor=None, purpose="x", now=services.utcnow() - timedelta(days=40))
        db.session.commit()
        number, emp, late_no = a.registry_no, b.employee_no, late.registry_no
    result = runner.invoke(args=["assets", "checkout", number, "--borrower", emp, "--purpose", "review"])
    assert result.exit_code == 0, result.output
    assert f"Checked out {number}" in result.output
    result = runner.invoke(args=["assets", "list", "--status", "checked_out"])
    assert number in result.output and "2 items" in result.output and "TITLE" not in result.output
    result = runner.invoke(args=["assets", "overdue", "--record"])
    assert late_no in result.output and "1 newly reported" in result.output
    assert "0 newly reported" in runner.invoke(args=["assets", "overdue", "--record"]).output
    assert len(security_events(app, "overdue")) == 1
    result = runner.invoke(args=["assets", "checkin", number, "--condition", "damaged", "--note", "torn"])
    assert result.exit_code == 0 and "return_discrepancy" in result.output
    result = runner.invoke(args=["assets", "checkout", "NOPE-1", "--borrower", emp, "--purpose", "x"])
    assert result.exit_code == 1 and "No item" in result.output


def test_dashboard_tiles(app, as_role):
    from datetime import timedelta

    from registry.assets import services

    with app.app_context():
        b = h.person()
        a = h.asset(level="internal")
        services.checkout(db.session, a, b, actor=None, purpose="x", now=services.utcnow() - timedelta(days=60))
        db.session.commit()
        bid = b.id
    html = as_role("officer").get("/", headers=EN).get_data(as_text=True)
    assert "Overdue checkouts" in html and "Items checked out" in html and "Pending approvals" in html
    html = as_role("staff", person_id=bid).get("/", headers=EN).get_data(as_text=True)
    assert "My overdue items" in html


def test_demo_data(app):
    from registry.assets.models import Asset, Checkout
    from registry.core.audit import verify
    from registry.core.demo import load_demo

    with app.app_context():
        ctx = load_demo(db.session)
        db.session.commit()
        kinds = set(db.session.scalars(sa.select(Asset.kind)).all())
        levels = set(db.session.scalars(sa.select(Asset.level)).all())
        assert len(kinds) == 4 and len(levels) == 5
        open_ = db.session.scalars(sa.select(Checkout).where(Checkout.returned_at.is_(None))).all()
        assert any(c.is_overdue() for c in open_) and any(not c.is_overdue() for c in open_)
        assert db.session.scalar(sa.select(sa.func.count(Checkout.id)).where(Checkout.returned_at.is_not(None))) >= 2
        assert ctx["approvals"]["pending_checkout"].status.value == "pending"
        assert verify(db.session).ok
