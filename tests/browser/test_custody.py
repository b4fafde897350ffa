"""Custody in Chromium on a phone-sized screen (390×844): type a code into the scan input → check out
→ check in; a refusal shows its reason; a label sheet renders; in English and in Chinese."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from registry.extensions import db
from tests.browser.conftest import sign_in

PHONE = {"width": 390, "height": 844}


def _setup(live_app, **asset):
    """A borrower and an item, through the real services, committed."""
    from tests.assets import helpers as h

    with live_app.app_context():
        borrower = h.person(category="important", name="王测试")
        item = h.asset(**asset)
        db.session.commit()
        return {"borrower_id": borrower.id, "asset_id": item.id, "registry_no": item.registry_no,
                "code": item.label_code, "title": item.title}


def _status(live_app, asset_id):
    from registry.assets.models import Asset

    with live_app.app_context():
        db.session.expire_all()
        value = db.session.get(Asset, asset_id).status.value
        db.session.remove()
        return value


def _switch_language(page, target):
    button = page.locator("form[action='/language'] button[name=lang]")
    if button.get_attribute("value") == target:
        button.click()
        page.wait_for_load_state()


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_scan_checkout_checkin_on_a_phone(page, live_app, live_user, lang):
    data = _setup(live_app, level="confidential", title="Phone journey item")
    page.set_viewport_size(PHONE)
    sign_in(page, live_user("officer"))
    _switch_language(page, lang)
    expect(page.locator("html")).to_have_attribute("lang", "en" if lang == "en" else "zh-CN")
    page.goto("/scan")
    scan_input = page.locator("#scan-code")
    expect(scan_input).to_be_focused()                  # a USB wedge scanner types straight in
    scan_input.type(f"{live_app.config['BASE_URL']}/s/{data['code']}")
    scan_input.press("Enter")
    page.wait_for_url(re.compile(rf"/items/{data['asset_id']}/act$"))          # screen 1 after the scan
    expect(page.locator("h1")).to_have_text(data["registry_no"])
    page.select_option("#borrower_id", str(data["borrower_id"]))
    page.fill("#purpose", "design review")
    page.click("#checkout-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/items/{data['asset_id']}/act$"))          # screen 2: done
    expect(page.locator(".flash-success")).to_contain_text("王测试")
    assert _status(live_app, data["asset_id"]) == "checked_out"
    expect(page.locator("#checkin-form")).to_be_visible()
    page.check("#checkin-form input[name=condition][value=intact]")
    page.click("#checkin-form button[type=submit]")
    expect(page.locator(".flash-success")).to_be_visible()
    assert _status(live_app, data["asset_id"]) == "available"
    # nothing on the page is wider than the phone
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, width


@pytest.mark.parametrize("lang,text", [("en", "An approved checkout approval for this item and borrower is required."),
                                       ("zh_CN", None)])
def test_refusal_shows_its_reason(page, live_app, live_user, lang, text):
    from registry.core.errors import REASONS

    data = _setup(live_app, level="secret")
    if text is None:
        with live_app.test_request_context(headers={"Accept-Language": "zh-CN"}):
            text = str(REASONS["approval_required"][1])
    page.set_viewport_size(PHONE)
    sign_in(page, live_user("officer"))
    _switch_language(page, lang)
    page.goto("/scan")
    page.locator("#scan-code").type(data["registry_no"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/items/\d+/act$"))
    page.select_option("#borrower_id", str(data["borrower_id"]))
    page.fill("#purpose", "needs an approval")
    page.click("#checkout-form button[type=submit]")
    refusal = page.locator(".refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text(text)
    expect(refusal.locator(".refusal-code")).to_have_text("approval_required")
    assert _status(live_app, data["asset_id"]) == "available"
    with live_app.app_context():
        import sqlalchemy as sa

        from registry.core.security_events import SecurityEvent

        assert db.session.scalar(sa.select(sa.func.count(SecurityEvent.id)).where(
            SecurityEvent.subject_id == data["asset_id"], SecurityEvent.reason == "approval_required")) == 1
        db.session.remove()


def test_label_sheet_renders(page, live_app, live_user, tmp_path):
    items = [_setup(live_app, level=level, title=f"SECRET TITLE {i}")
             for i, level in enumerate(["top_secret", "secret", "confidential", "internal", "unclassified"])]
    page.set_viewport_size(PHONE)
    sign_in(page, live_user("officer"))
    query = "&".join(f"asset_ids={d['asset_id']}" for d in items)
    page.goto(f"/print/labels?{query}&geometry=a4-3x8")
    labels = page.locator(".label-sheet .label")
    expect(labels).to_have_count(5)
    expect(page.locator(".label-sheet")).not_to_contain_text("SECRET TITLE")
    for d in items:
        expect(page.locator(".label-sheet")).to_contain_text(d["registry_no"])
    page.wait_for_function("Array.from(document.querySelectorAll('img.label-qr')).every(i => i.complete && i.naturalWidth > 0)")
    box = page.locator(".label-sheet").bounding_box()
    assert abs(box["width"] - 210 * 96 / 25.4) < 3        # true to size: 210 mm at 96 px per inch
    page.screenshot(path=str(tmp_path / "labels-a4.png"), full_page=True)
    page.goto(f"/print/labels?{query}&geometry=tape-62x29")
    expect(page.locator(".label-sheet.tape-62x29 .label")).to_have_count(5)
    label_box = page.locator(".label").first.bounding_box()
    assert abs(label_box["width"] - 62 * 96 / 25.4) < 2 and abs(label_box["height"] - 29 * 96 / 25.4) < 2
    page.screenshot(path=str(tmp_path / "labels-tape.png"), full_page=True)
    assert (tmp_path / "labels-a4.png").stat().st_size > 10_000
