"""Browser: an inventory walk on a phone-sized screen (390×844). The officer picks the room once, then
scans item after item with a wedge scanner (typing + Enter); the counts update after every scan
without a page load (htmx); a room's label switches the room; closing reconciles."""

from __future__ import annotations

import os

from playwright.sync_api import expect

from registry.extensions import db
from tests.browser.conftest import sign_in


def _world(live_app):
    from registry.areas import services as rooms
    from registry.assets import services as custody
    from registry.stocktake import services as stocktake

    with live_app.app_context():
        made = {}
        for code in ("WALK-A", "WALK-B"):
            made[code] = rooms.create_room(db.session, {
                "code": code, "name": f"Store {code[-1]}", "location": "", "level": "secret",
                "foreign_policy": "escorted", "max_visitors_per_escort": 5, "protection": "", "responsible_id": None},
                actor=None)
        items = [custody.create_asset(db.session, {"kind": "media", "subtype": "paper", "title": f"Walk item {i}",
                                                   "level": "confidential", "room_id": made["WALK-A"].id}, actor=None)
                 for i in range(3)]
        stray = custody.create_asset(db.session, {"kind": "media", "subtype": "paper", "title": "Stray",
                                                  "level": "internal", "room_id": made["WALK-B"].id}, actor=None)
        inv = stocktake.start_inventory(db.session, [made["WALK-A"].id, made["WALK-B"].id], actor=None)
        db.session.commit()
        return {"inv": inv.id, "a": made["WALK-A"].id, "b_label": made["WALK-B"].label_code,
                "codes": [i.label_code for i in items], "stray": stray.label_code,
                "stray_no": stray.registry_no, "missing_no": items[2].registry_no}


def _scan(page, text):
    page.fill("#walk-code", text)
    page.press("#walk-code", "Enter")


def test_inventory_walk_on_a_phone(page, live_app, live_user, tmp_path):
    w = _world(live_app)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, live_user("officer"))
    page.goto(f"/stocktake/inventories/{w['inv']}/walk")
    expect(page.locator('[data-count="expected"]')).to_have_text("4")
    page.select_option("#walk-room", str(w["a"]))

    _scan(page, w["codes"][0])
    expect(page.locator(".walk-result")).to_contain_text("In its room")
    expect(page.locator('[data-count="seen"]')).to_have_text("1")
    expect(page.locator("#walk-code")).to_be_focused()          # ready for the next scan
    expect(page.locator("#walk-room")).to_have_value(str(w["a"]))  # the room was picked once

    _scan(page, f"{live_app.config['BASE_URL']}/s/{w['codes'][1]}")   # a label URL, as the QR holds it
    expect(page.locator('[data-count="seen"]')).to_have_text("2")
    _scan(page, w["stray"])                                      # belongs in WALK-B
    expect(page.locator('[data-count="wrong_room"]')).to_have_text("1")
    expect(page.locator(".walk-result")).to_contain_text("WALK-B")
    _scan(page, "OLD-LABEL-0042")
    expect(page.locator('[data-count="unknown"]')).to_have_text("1")
    expect(page.locator('[data-count="remaining"]')).to_have_text("1")  # the stray was seen, if in the wrong room
    _scan(page, w["b_label"])                                    # the room's own label switches the room
    expect(page.locator("#walk-room option:checked")).to_contain_text("WALK-B")
    _scan(page, w["stray"])                                      # now seen where it belongs
    expect(page.locator('[data-count="wrong_room"]')).to_have_text("0")
    expect(page.locator('[data-count="remaining"]')).to_have_text("1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # no sideways scrolling on the phone
    page.screenshot(path=str(tmp_path / "walk.png"), full_page=True)
    if os.environ.get("GOV_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["GOV_SHOTS"], "walk-phone.png"), full_page=True)

    page.goto(f"/stocktake/inventories/{w['inv']}")
    page.once("dialog", lambda d: d.accept())
    page.click("button:has-text('Close and reconcile')")
    expect(page.locator(".flash")).to_contain_text("Missing: 1")
    expect(page.locator("tr.finding-missing")).to_contain_text(w["missing_no"])
    page.screenshot(path=str(tmp_path / "result.png"), full_page=True)
    if os.environ.get("GOV_SHOTS"):
        page.screenshot(path=os.path.join(os.environ["GOV_SHOTS"], "result-phone.png"), full_page=True)
