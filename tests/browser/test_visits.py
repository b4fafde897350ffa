"""Browser: the guard station on a tablet (1024x768). A guard scans a badge, is refused without an
escort (the reason in large type), lets the visitor in with an escort, then out; in English and,
for one refusal, in Chinese."""

from __future__ import annotations

import re
from datetime import date, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from registry.extensions import db
from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD


def _world(live_app):
    """A foreign visitor with an approved permission for an escorted room, and an eligible escort."""
    from registry.approvals import services as approvals
    from registry.areas import services as rooms
    from registry.auth import services as accounts
    from registry.core.models import utcnow
    from registry.people import services as people
    from registry.visits import services

    with live_app.app_context():
        n = db.session.scalar(sa.text("SELECT COUNT(*) FROM rooms")) + 1
        room = rooms.create_room(db.session, {"code": f"HYS-B{n}", "name": "涉外会议室", "location": "3F",
                                              "level": "confidential", "foreign_policy": "escorted",
                                              "max_visitors_per_escort": 3}, actor=None)
        escort = people.create_person(db.session, {"name": "刘洋", "employee_no": f"EB{n:04d}", "department": "二室",
                                                   "nationality": "CN", "category": "important", "status": "active",
                                                   "phone": "010-6800"}, actor=None)
        visitor = services.create_visitor(db.session, {
            "name": "Klaus Becker", "name_alt": "克劳斯·贝克尔", "nationality": "DE", "id_doc_type": "passport",
            "id_doc_no": f"C4F7K2L{n:02d}", "organization": "DLR Köln", "purpose": "data comparison",
            "arrives_on": date.today() - timedelta(days=1), "departs_on": date.today() + timedelta(days=1)}, actor=None)
        officer = accounts.create_user(db.session, username=f"off_v{n}", role="officer", password=PASSWORD, actor=None)
        approver = accounts.create_user(db.session, username=f"app_v{n}", role="approver", password=PASSWORD,
                                        actor=None)
        a = approvals.request_approval(db.session, kind="area_permission", actor=officer, purpose="meeting",
                                       visitor_id=visitor.id, room_id=room.id)
        approvals.decide(db.session, a, decision="approved", actor=approver)
        services.grant_permission(db.session, visitor, room, {"valid_from": utcnow() - timedelta(hours=1),
                                                              "valid_until": utcnow() + timedelta(hours=8)},
                                  actor=officer)
        db.session.commit()
        return {"room_id": room.id, "room_code": room.code, "escort_id": escort.id, "visitor_id": visitor.id,
                "badge": visitor.badge_code}


def _scan_and_pick_room(page, w):
    scan = page.locator("#scan-code")
    scan.click()
    page.keyboard.type(w["badge"], delay=5)  # a keyboard-wedge scanner types fast, then Enter
    with page.expect_navigation():  # the same URL as before on a second scan: wait for the new page itself
        page.keyboard.press("Enter")
    expect(page.locator("#visitor-card h2")).to_contain_text("Klaus Becker")
    page.select_option("#room_id", str(w["room_id"]))
    expect(page.locator("#room-facts")).to_contain_text(w["room_code"])  # htmx swapped the room panel in


def test_guard_refuses_then_admits_with_escort_then_exit(page, live_app, live_user, tmp_path):
    from registry.core.security_events import SecurityEvent
    from registry.visits.models import Visit

    page.set_viewport_size({"width": 1024, "height": 768})
    w = _world(live_app)
    sign_in(page, live_user("guard"))
    expect(page).to_have_url(re.compile(r"/guard$"))  # guards land on their station
    expect(page.locator("body")).to_have_class(re.compile("kiosk"))

    _scan_and_pick_room(page, w)
    page.check("input[name=device_phone][value=deposited]")
    page.click("#enter-button")
    refusal = page.locator(".refusal")
    expect(refusal).to_contain_text("An escort is required for this room.")
    expect(refusal.locator(".refusal-code")).to_have_text("escort_required")
    assert float(refusal.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 24  # large type
    assert refusal.bounding_box()["y"] < 768  # visible without scrolling
    page.screenshot(path=str(tmp_path / "guard-refused.png"), full_page=True)

    expect(page.locator("#room_id")).to_have_value(str(w["room_id"]))  # kept: only the escort is missing
    expect(page.locator("input[name=device_phone][value=deposited]")).to_be_checked()
    page.select_option("#escort_id", str(w["escort_id"]))
    page.click("#enter-button")
    allowed = page.locator(".allowed")
    expect(allowed).to_contain_text("Entry logged")
    expect(allowed.locator(".allowed-code")).to_have_text("entered")
    expect(page.locator("#board")).to_contain_text("Klaus Becker")

    page.click("#exit-button")
    expect(page.locator(".allowed")).to_contain_text("Exit logged")
    expect(page.locator(".allowed")).to_contain_text("Mobile phone")  # hand the deposited phone back
    expect(page.locator("#entry-form")).to_be_visible()

    with live_app.app_context():
        visits = db.session.scalars(sa.select(Visit).where(Visit.visitor_id == w["visitor_id"])).all()
        assert len(visits) == 1 and visits[0].exited_at is not None and visits[0].escort_id == w["escort_id"]
        assert visits[0].devices == [{"kind": "phone", "disposition": "deposited", "note": ""}]
        reasons = db.session.scalars(sa.select(SecurityEvent.reason).where(
            SecurityEvent.kind == "entry_denied", SecurityEvent.subject_id == w["visitor_id"])).all()
        assert reasons == ["escort_required"]

    # the same refusal in Chinese (the texts come from the compiled catalog)
    from flask_babel import force_locale, gettext

    from registry.core.errors import REASONS

    with live_app.test_request_context(), force_locale("zh_CN"):
        title, reason = gettext("Guard station"), str(REASONS["escort_required"][1])
    assert reason != "An escort is required for this room." and re.search(r"[\u4e00-\u9fff]", reason)
    page.click("button:has-text('中文')")
    expect(page.locator("h1")).to_have_text(title)
    _scan_and_pick_room(page, w)
    page.click("#enter-button")
    expect(page.locator(".refusal")).to_contain_text(reason)
    expect(page.locator(".refusal .refusal-code")).to_have_text("escort_required")
    page.screenshot(path=str(tmp_path / "guard-refused-zh.png"), full_page=True)
