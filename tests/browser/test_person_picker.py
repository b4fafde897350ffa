"""The person picker in Chromium on a phone-sized screen (375 px): with more people than
PICKER_MAX_OPTIONS the action page's borrower is a search box; type a few letters, pick a suggestion
with the keyboard, check the item out. Typing an employee number without picking works too (the
server resolves it, as without JavaScript)."""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import expect

from registry.extensions import db
from tests.browser.conftest import sign_in

PHONE = {"width": 375, "height": 812}
_n = itertools.count(1)


@pytest.fixture
def picker_on(live_app):
    """The live server (shared by the session) with the search box for every person field."""
    before = live_app.config.get("PICKER_MAX_OPTIONS")
    live_app.config["PICKER_MAX_OPTIONS"] = 0
    yield
    live_app.config["PICKER_MAX_OPTIONS"] = before


def _setup(live_app):
    from tests.assets import helpers as h

    n = next(_n)
    with live_app.app_context():
        borrower = h.person(category="important", name=f"Qiu Picker {n}", employee_no=f"PK{n:04d}X")
        h.person(category="important", name=f"Qiu Other {n}", employee_no=f"PO{n:04d}X")
        item = h.asset(level="confidential", title="Picker item")
        db.session.commit()
        return {"borrower_id": borrower.id, "name": borrower.name, "employee_no": borrower.employee_no,
                "asset_id": item.id}


def _borrower(live_app, asset_id):
    import sqlalchemy as sa

    from registry.assets.models import Checkout

    with live_app.app_context():
        db.session.expire_all()
        value = db.session.scalar(sa.select(Checkout.borrower_id).where(Checkout.asset_id == asset_id,
                                                                      Checkout.returned_at.is_(None)))
        db.session.remove()
        return value


def test_pick_a_borrower_with_the_keyboard_on_a_phone(page, live_app, live_user, picker_on):
    data = _setup(live_app)
    page.set_viewport_size(PHONE)
    sign_in(page, live_user("officer"))
    page.goto(f"/items/{data['asset_id']}/act")
    box = page.locator("input#borrower_id")
    expect(box).to_have_attribute("type", "search")
    expect(box).to_be_focused()                                   # right after a scan: type straight away
    box.type(data["name"].lower(), delay=20)                      # case does not matter
    options = page.locator("#borrower_id-options [role=option]")
    expect(options.first).to_have_text(f"{data['name']} ({data['employee_no']})")
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#borrower_id-options")).not_to_contain_text("Qiu Other")
    box.press("ArrowDown")
    expect(options.first).to_have_attribute("aria-selected", "true")
    box.press("Enter")                                            # chooses; does not submit the form
    expect(page.locator("#borrower_id-options")).to_be_hidden()
    expect(box).to_have_value(f"{data['name']} ({data['employee_no']})")
    expect(page.locator("input[type=hidden][name=borrower_id]")).to_have_value(str(data["borrower_id"]))
    assert _borrower(live_app, data["asset_id"]) is None
    # the list fits the phone
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, width
    page.fill("#purpose", "design review")
    page.click("#checkout-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/items/{data['asset_id']}/act$"))
    expect(page.locator(".flash-success")).to_contain_text(data["name"])
    assert _borrower(live_app, data["asset_id"]) == data["borrower_id"]


def test_typed_number_without_picking(page, live_app, live_user, picker_on):
    data = _setup(live_app)
    page.set_viewport_size(PHONE)
    sign_in(page, live_user("officer"))
    page.goto(f"/items/{data['asset_id']}/act")
    box = page.locator("input#borrower_id")
    box.type(data["employee_no"], delay=20)
    expect(page.locator("#borrower_id-options [role=option]").first).to_be_visible()
    box.press("Escape")                                           # close the list, keep the text
    expect(page.locator("input[type=hidden][name=borrower_id]")).to_have_value("")
    page.fill("#purpose", "audit")
    page.click("#checkout-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/items/{data['asset_id']}/act$"))
    expect(page.locator(".flash-success")).to_contain_text(data["name"])
    assert _borrower(live_app, data["asset_id"]) == data["borrower_id"]


def _scope(live_app, asset_id):
    from registry.assets.models import Asset

    with live_app.app_context():
        db.session.expire_all()
        value = sorted(db.session.get(Asset, asset_id).scope["person_ids"])
        db.session.remove()
        return value


def test_need_to_know_people_are_added_and_removed_on_a_phone(page, live_app, live_user, picker_on):
    data = _setup(live_app)
    n = next(_n)
    with live_app.app_context():
        from tests.assets import helpers as h

        second = h.person(category="important", name=f"Qiu Second {n}", employee_no=f"PS{n:04d}X")
        db.session.commit()
        second = {"id": second.id, "label": f"{second.name} ({second.employee_no})"}
    page.set_viewport_size(PHONE)
    sign_in(page, live_user("officer"))
    page.goto(f"/items/{data['asset_id']}/edit")
    box = page.locator("input#scope_person_ids")
    expect(box).to_have_attribute("type", "search")
    chips = page.locator("[data-picker-chosen] .picker-chip")
    expect(chips).to_have_count(0)
    box.type(data["name"], delay=20)                              # pick one with the keyboard
    page.locator("#scope_person_ids-options [role=option]").first.wait_for()
    box.press("ArrowDown")
    box.press("Enter")
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text(f"{data['name']} ({data['employee_no']})")
    expect(box).to_have_value("")                                 # ready for the next one
    expect(box).to_be_focused()
    box.type(second["label"].split(" (")[0], delay=20)            # and another with a tap
    page.locator("#scope_person_ids-options [role=option]").first.click()
    expect(chips).to_have_count(2)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, width
    page.click("form.asset-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/items/{data['asset_id']}$"))
    assert _scope(live_app, data["asset_id"]) == sorted([data["borrower_id"], second["id"]])
    page.goto(f"/items/{data['asset_id']}/edit")                  # untick one: removed
    expect(chips).to_have_count(2)
    page.locator("[data-picker-chosen] input[type=checkbox][value='%d']" % second["id"]).uncheck()
    page.click("form.asset-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/items/{data['asset_id']}$"))
    assert _scope(live_app, data["asset_id"]) == [data["borrower_id"]]
