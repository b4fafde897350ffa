"""Inventories (清查): scope and overlap, what each scan means, live counts, reconciliation at close
(missing items and their security events, wrong room, unknown and revoked labels, items out on loan,
items found again), and the wiring of pages, API and CLI."""

from __future__ import annotations

import pytest

from registry.assets import services as custody
from registry.assets.models import AssetStatus
from registry.core.errors import Conflict, Forbidden, ValidationFailed
from registry.extensions import db
from registry.stocktake import rules, services
from registry.stocktake.models import ScanOutcome
from tests.people import helpers as h

BASE = "https://registry.example.test"


@pytest.fixture
def w(ctx):
    officer = h.user("officer")
    a, b, c = h.room(code="INV-A"), h.room(code="INV-B"), h.room(code="INV-C")
    borrower = h.person()
    items = {
        "a1": h.asset(room_id=a.id), "a2": h.asset(room_id=a.id), "a3": h.asset(room_id=a.id),
        "b1": h.asset(room_id=b.id), "c1": h.asset(room_id=c.id),
        "loaned": h.asset(room_id=a.id), "lost": h.asset(room_id=a.id),
    }
    h.checkout(items["loaned"], borrower, officer)
    custody.set_status(db.session, items["lost"], AssetStatus.MISSING, actor=officer)
    db.session.commit()
    return {"officer": officer, "a": a, "b": b, "c": c, "items": items, "borrower": borrower}


def start(w, *rooms):
    return services.start_inventory(db.session, [r.id for r in rooms], actor=w["officer"], note="test")


def scan(w, inv, text, room):
    return services.record_scan(db.session, inv, text, room.id if room is not None else None, actor=w["officer"],
                                base_url=BASE).scan


# ------------------------------------------------------------------ scope

@pytest.mark.parametrize("first, second", [((), ("a",)), (("a",), ()), (("a", "b"), ("b", "c")), (("a",), ("a",))])
def test_one_open_inventory_per_scope(w, first, second):
    start(w, *[w[r] for r in first])
    with pytest.raises(Conflict) as exc:
        start(w, *[w[r] for r in second])
    assert exc.value.code == "inventory_open" and exc.value.status == 409


def test_disjoint_scopes_and_restart_after_close(w):
    inv = start(w, w["a"])
    start(w, w["b"], w["c"])
    services.close_inventory(db.session, inv, actor=w["officer"])
    assert start(w, w["a"]).id != inv.id


def test_scope_key_and_overlap():
    assert rules.scope_key([]) == "all" and rules.scope_key([5, 3, 5]) == "3,5"
    assert rules.scopes_overlap([], [1]) and rules.scopes_overlap([1, 2], [2]) and not rules.scopes_overlap([1], [2])


def test_unknown_room_and_role(w):
    with pytest.raises(ValidationFailed):
        services.start_inventory(db.session, [99999], actor=w["officer"])
    with pytest.raises(Forbidden):
        services.start_inventory(db.session, [], actor=h.user("inspector"))


# ------------------------------------------------------------------ scans

@pytest.mark.parametrize("what, room, outcome", [
    ("a1.code", "a", ScanOutcome.SEEN),
    ("a1.url", "a", ScanOutcome.SEEN),
    ("a1.registry_no", "a", ScanOutcome.SEEN),
    ("b1.code", "a", ScanOutcome.WRONG_ROOM),
    ("loaned.code", "a", ScanOutcome.ON_LOAN),
    ("lost.code", "a", ScanOutcome.FOUND),
    ("garbage", "a", ScanOutcome.UNKNOWN),
    ("unknown_code", "a", ScanOutcome.UNKNOWN),
    ("b.room", "a", ScanOutcome.ROOM),
])
def test_scan_outcomes(w, what, room, outcome):
    inv = start(w)
    key, _, part = what.partition(".")
    if what == "garbage":
        text = "<script>alert(1)</script>"
    elif what == "unknown_code":
        text = "A" * 20
    elif part == "room":
        text = w[key].label_code
    else:
        item = w["items"][key]
        text = {"code": item.label_code, "url": f"{BASE}/s/{item.label_code}", "registry_no": item.registry_no}[part]
    s = scan(w, inv, text, w[room])
    assert s.outcome == outcome
    if outcome == ScanOutcome.ROOM:
        assert s.room_id == w["b"].id  # the room label switches the current room
    if what == "garbage":
        assert "<" not in s.code and len(s.code) <= 80
    assert s.scanned_by == w["officer"].username and s.at is not None


def test_repeat_and_destroyed(w):
    inv = start(w)
    item = w["items"]["a1"]
    scan(w, inv, item.label_code, w["a"])
    assert scan(w, inv, item.label_code, w["a"]).outcome == ScanOutcome.REPEAT
    assert scan(w, inv, item.label_code, w["b"]).outcome == ScanOutcome.WRONG_ROOM
    custody.mark_destroyed(db.session, w["items"]["c1"], actor=None)
    assert scan(w, inv, w["items"]["c1"].label_code, w["c"]).outcome == ScanOutcome.DESTROYED
    assert [e.subject_id for e in h.events("destroyed_item_found")] == [w["items"]["c1"].id]


def test_revoked_label_recorded(w):
    item = w["items"]["a2"]
    old = item.label_code
    custody.reissue_label(db.session, item, actor=None, reason="damaged")
    inv = start(w)
    s = scan(w, inv, old, w["a"])
    assert s.outcome == ScanOutcome.REVOKED and s.asset_id == item.id
    assert [e.subject_id for e in h.events("revoked_label_scanned")] == [item.id]
    assert scan(w, inv, item.label_code, w["a"]).outcome == ScanOutcome.SEEN


@pytest.mark.parametrize("room", [None, "c"])
def test_scan_needs_a_room_in_scope(w, room):
    inv = start(w, w["a"], w["b"])
    with pytest.raises(ValidationFailed) as exc:
        scan(w, inv, w["items"]["a1"].label_code, w[room] if room else None)
    assert "room_id" in exc.value.details


def test_live_counts(w):
    inv = start(w, w["a"])
    assert services.live_counts(db.session, inv)["expected"] == 3  # a1..a3; loaned and lost are not on the shelf
    scan(w, inv, w["items"]["a1"].label_code, w["a"])
    scan(w, inv, w["items"]["b1"].label_code, w["a"])
    scan(w, inv, "A" * 20, w["a"])
    scan(w, inv, "A" * 20, w["a"])
    counts = services.live_counts(db.session, inv)
    assert counts == {"expected": 3, "seen": 1, "remaining": 2, "wrong_room": 1, "unknown": 1, "revoked": 0,
                      "found": 0, "on_loan_seen": 0, "scans": 4}


# ------------------------------------------------------------------ close

def test_close_reconciles(w):
    items = w["items"]
    inv = start(w, w["a"])
    scan(w, inv, items["a1"].label_code, w["a"])
    scan(w, inv, items["a2"].label_code, w["a"])
    scan(w, inv, items["b1"].label_code, w["a"])        # belongs in B
    scan(w, inv, items["lost"].label_code, w["a"])      # recorded as missing: found again
    scan(w, inv, "Z" * 20, w["a"])
    result = services.close_inventory(db.session, inv, actor=w["officer"])
    assert result["missing"] == [items["a3"].id]
    assert result["wrong_room"] == [items["b1"].id]
    assert result["unknown"] == ["Z" * 20]
    assert result["out_on_loan"] == [items["loaned"].id]   # accounted for by its checkout, not missing
    assert result["found"] == [items["lost"].id]
    assert (result["expected"], result["seen"]) == (3, 2)
    db.session.expire_all()
    assert items["a3"].status == AssetStatus.MISSING and items["lost"].status == AssetStatus.AVAILABLE
    assert items["loaned"].status == AssetStatus.CHECKED_OUT
    missing = h.events("inventory_missing")
    assert [e.subject_id for e in missing] == [items["a3"].id] and missing[0].details["inventory_id"] == inv.id
    assert inv.result == result and inv.closed_at is not None
    assert "inventory.close" in h.audit_actions("inventory.")
    with pytest.raises(Conflict) as exc:
        services.close_inventory(db.session, inv, actor=w["officer"])
    assert exc.value.code == "inventory_closed"
    with pytest.raises(Conflict):
        scan(w, inv, items["a1"].label_code, w["a"])


def test_close_all_rooms_expects_every_available_item(w):
    inv = start(w)
    result = services.close_inventory(db.session, inv, actor=w["officer"])
    i = w["items"]
    assert sorted(result["missing"]) == sorted(x.id for x in (i["a1"], i["a2"], i["a3"], i["b1"], i["c1"]))
    assert len(h.events("inventory_missing")) == 5


# ------------------------------------------------------------------ API

@pytest.fixture
def api_world(app):
    with app.app_context():
        a, b = h.room(code="API-A"), h.room(code="API-B")
        x, y = h.asset(room_id=a.id), h.asset(room_id=a.id)
        z = h.asset(room_id=b.id)
        db.session.commit()
        return {"a": a.id, "b": b.id, "x": (x.id, x.label_code), "y": (y.id, y.label_code), "z": (z.id, z.label_code)}


def test_api_inventory_walk(app, api, api_world):
    officer = api("officer")
    resp = officer.post("/api/v1/inventories", json={"room_ids": [api_world["a"]]})
    assert resp.status_code == 201, resp.get_json()
    inv = resp.get_json()
    assert inv["room_ids"] == [api_world["a"]] and inv["closed_at"] is None and inv["counts"]["expected"] == 2
    iid = inv["id"]
    assert officer.post("/api/v1/inventories", json={"room_ids": []}).get_json()["error"]["code"] == "inventory_open"
    s = officer.post(f"/api/v1/inventories/{iid}/scans", json={"code": api_world["x"][1], "room_id": api_world["a"]})
    assert s.status_code == 201 and s.get_json()["outcome"] == "seen" and s.get_json()["counts"]["seen"] == 1
    s = officer.post(f"/api/v1/inventories/{iid}/scans",
                     json={"code": f"https://registry.example.test/s/{api_world['z'][1]}", "room_id": api_world["a"]})
    assert s.get_json()["outcome"] == "wrong_room"
    s = officer.post(f"/api/v1/inventories/{iid}/scans", json={"code": "NOPE-LABEL", "room_id": api_world["a"]})
    assert s.get_json()["outcome"] == "unknown"
    bad = officer.post(f"/api/v1/inventories/{iid}/scans", json={"code": api_world["x"][1], "room_id": api_world["b"]})
    assert bad.status_code == 422 and "room_id" in bad.get_json()["error"]["details"]
    preview = officer.get(f"/api/v1/inventories/{iid}").get_json()["preview"]
    assert preview["missing"] == [api_world["y"][0]]
    closed = officer.post(f"/api/v1/inventories/{iid}/close")
    assert closed.status_code == 200
    result = closed.get_json()
    assert result["missing"] == [api_world["y"][0]] and result["wrong_room"] == [api_world["z"][0]]
    assert result["unknown"] == ["NOPE-LABEL"]
    again = officer.post(f"/api/v1/inventories/{iid}/close")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "inventory_closed"
    listing = api("inspector").get("/api/v1/inventories?open=false").get_json()
    assert listing["total"] == 1 and listing["items"][0]["result"]["missing"] == [api_world["y"][0]]
    assert api("inspector").post("/api/v1/inventories", json={}).status_code == 403
    assert api("staff").get("/api/v1/inventories").status_code == 403


def test_walk_page_scan_and_close(app, as_role, api_world):
    officer = as_role("officer")
    assert officer.get("/stocktake/inventories").status_code == 200
    resp = officer.post("/stocktake/inventories", data={"room_ids": [api_world["a"]], "note": "spot check"})
    assert resp.status_code == 302 and "/walk" in resp.headers["Location"]
    walk_url = resp.headers["Location"]
    page = officer.get(walk_url).get_data(as_text=True)
    assert 'id="walk-form"' in page and 'id="walk-code"' in page and "js/inventory.js" in page
    post_url = walk_url.split("?")[0]
    # without htmx: post-redirect-get back to the walk page with the current room kept
    r = officer.post(post_url, data={"code": api_world["x"][1], "room_id": api_world["a"]})
    assert r.status_code == 302 and f"room_id={api_world['a']}" in r.headers["Location"]
    # with htmx: the refreshed panel (counts, last result) in one answer
    r = officer.post(post_url, data={"code": api_world["z"][1], "room_id": api_world["a"]}, headers={"HX-Request": "true"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="walk"' in html and "Wrong room" in html and "<html" not in html
    r = officer.post(post_url, data={"code": api_world["x"][1]}, headers={"HX-Request": "true"})
    assert "Choose the room you are in" in r.get_data(as_text=True)
    iid = int(post_url.rstrip("/").split("/")[-2])
    r = officer.post(f"/stocktake/inventories/{iid}/close", follow_redirects=True)
    assert "Missing: 1" in r.get_data(as_text=True)
    assert officer.get(walk_url).status_code == 302  # closed: back to the findings
    shown = as_role("inspector").get(f"/stocktake/inventories/{iid}").get_data(as_text=True)
    assert "Missing" in shown and "Wrong room" in shown
    assert as_role("inspector").post(f"/stocktake/inventories/{iid}/close").status_code == 403


def test_cli(app, runner, api_world):
    with app.app_context():
        from registry.areas.models import Room

        code_a = db.session.get(Room, api_world["a"]).code
    out = runner.invoke(args=["stocktake", "start", "--room", code_a, "--note", "cli"])
    assert out.exit_code == 0, out.output
    iid = out.output.strip().splitlines()[-1]
    assert "2 items expected" in out.output
    out = runner.invoke(args=["stocktake", "scan", iid, api_world["x"][1], "--room", code_a])
    assert out.exit_code == 0 and out.output.startswith("seen")
    assert runner.invoke(args=["stocktake", "start"]).exit_code == 1  # overlaps the open one
    out = runner.invoke(args=["stocktake", "close", iid])
    assert out.exit_code == 0 and "missing" in out.output
    assert "closed" in runner.invoke(args=["stocktake", "list"]).output
    assert "expected 2" in runner.invoke(args=["stocktake", "status", iid]).output
