"""The guard station's pages: look-up, live board, room panel, end of day, roll call, dashboard."""

from __future__ import annotations

import re

import pytest

from registry.extensions import db
from tests.visits import scenarios


def _inside(app, make, api, n=1, **room):
    """n visitors inside one room with one escort; returns ids of the first."""
    ids = scenarios.build(app, make, scenarios.escorted_with_everything)
    guard = api("guard")
    assert guard.post("/api/v1/visits", json={"visitor_id": ids["visitor_id"], "room_id": ids["room_id"],
                                              "escort_id": ids["escort_id"]}).status_code == 201
    return ids


def test_scan_or_type_a_badge(app, make, as_role):
    vid = make.visitor(name="Yamada Taro", name_alt="山田太郎", organization="Tokyo Tech")
    make.visitor(name="Yamada Hanako", organization="Tokyo Tech")
    with app.app_context():
        from registry.visits.services import get_visitor

        code = get_visitor(db.session, vid).badge_code
    guard = as_role("guard")
    for text in (code, f"https://registry.example.test/s/{code}", "山田太郎"):
        resp = guard.get("/guard", query_string={"code": text})
        assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/guard?visitor={vid}"), text
    html = guard.get("/guard", query_string={"code": "Tokyo"}, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "choose one" in html and "Yamada Hanako" in html
    html = guard.get("/guard", query_string={"code": "<script>alert(1)</script>"},
                     headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "No visitor matches" in html and "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_station_shows_the_visitor_and_the_entry_form(app, make, as_role):
    ids = scenarios.build(app, make, scenarios.escorted_with_everything)
    guard = as_role("guard")
    html = guard.get(f"/guard?visitor={ids['visitor_id']}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'class="kiosk"' in html
    assert 'id="entry-form"' in html and 'hx-get="/guard/room"' in html
    assert 'id="scan-form"' in html and 'id="scan-code"' in html and "js/scan.js" in html
    assert 'hx-trigger="every 10s"' in html and 'data-refresh-url="/guard/board"' in html
    assert "escort required" in html  # the visitor's permission
    assert "<script>" not in html.split("<main", 1)[1].split("</main>")[0]  # no inline script
    assert 'style="' not in html


def test_room_panel_lists_the_access_list_and_escorts(app, make, as_role):
    from registry.areas import services as rooms
    from registry.areas.models import Room
    from registry.people.models import Person

    ids = scenarios.build(app, make, scenarios.escorted_with_everything)
    listed = make.person(name="Zhou Qiang")
    with app.app_context():
        rooms.grant_access(db.session, db.session.get(Room, ids["room_id"]), db.session.get(Person, listed), actor=None)
        db.session.commit()
    html = as_role("guard").get(f"/guard/room?room_id={ids['room_id']}",
                                headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<html" not in html  # a fragment
    assert "Staff access list" in html and "Zhou Qiang" in html
    access_group = html.split("access list\">", 1)[1].split("</optgroup>", 1)[0]
    assert f'value="{listed}"' in access_group
    assert f'value="{ids["escort_id"]}"' in html.split("Other staff", 1)[1]


def test_board_end_of_day_and_roll_call(app, make, api, as_role):
    ids = _inside(app, make, api)
    guard = as_role("guard")
    en = {"Accept-Language": "en"}
    board = guard.get("/guard/board", headers=en).get_data(as_text=True)
    assert "<html" not in board and "1 visitors inside" in board and ids["room_code"] in board
    assert re.search(r'name="visit_id" value="\d+"', board)
    eod = guard.get("/guard/end-of-day", headers=en).get_data(as_text=True)
    assert 'class="refusal"' in eod and "still_inside" in eod and ids["room_code"] in eod
    roll = guard.get("/guard/rollcall", headers=en).get_data(as_text=True)
    assert 'class="rollcall"' in roll and "data-print" in roll and "010-1234" in roll  # escort's phone
    with app.app_context():
        from registry.visits.services import inside_now, exit_visit

        exit_visit(db.session, inside_now(db.session)[0], actor=None)
        db.session.commit()
    eod = guard.get("/guard/end-of-day", headers=en).get_data(as_text=True)
    assert 'class="allowed"' in eod and "Nobody is inside." in eod
    assert "0 visitors inside" in guard.get("/guard/board", headers=en).get_data(as_text=True)


def test_board_flags_a_revoked_permission(app, make, api, as_role):
    ids = _inside(app, make, api)
    with app.app_context():
        from registry.visits.services import inside_now, revoke_permission

        revoke_permission(db.session, inside_now(db.session)[0].permission, actor=None)
        db.session.commit()
    board = as_role("guard").get("/guard/board", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Permission lapsed" in board


@pytest.mark.parametrize("role,tile", [("officer", True), ("inspector", True), ("guard", False), ("staff", False)])
def test_dashboard_tile(app, make, api, as_role, role, tile):
    _inside(app, make, api)
    resp = as_role(role).get("/", headers={"Accept-Language": "en"})
    if role == "guard":
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/guard")
        return
    html = resp.get_data(as_text=True)
    assert ("Visitors inside now" in html) is tile
    if tile:
        value = re.search(r'<span class="tile-value">(\d+)</span>\s*<span class="tile-label">Visitors inside now',
                          html)
        assert value and value.group(1) == "1"


@pytest.mark.parametrize("url", ["/guard", "/guard/board", "/guard/room", "/guard/end-of-day", "/guard/rollcall"])
def test_guard_pages_need_guard_or_officer(as_role, url):
    assert as_role("staff").get(url).status_code == 403
    assert as_role("inspector").get(url).status_code == 403
    assert as_role("officer").get(url).status_code == 200


def test_room_page_leads_to_the_station_with_the_room_picked(app, make, as_role):
    rid = make.room(code="HYS-9", foreign_policy="escorted")
    vid = make.visitor()
    guard = as_role("guard")
    assert f'href="/guard?room={rid}"' in guard.get(f"/rooms/{rid}").get_data(as_text=True)
    html = guard.get(f"/guard?room={rid}").get_data(as_text=True)
    assert f'<input type="hidden" name="room" value="{rid}">' in html
    resp = guard.get(f"/guard?room={rid}&code={vid}")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/guard?visitor={vid}&room={rid}")
    html = guard.get(resp.headers["Location"]).get_data(as_text=True)
    assert f'<option value="{rid}" selected' in html and 'id="room-facts"' in html
    assert f'href="/permissions?room={rid}"' in as_role("inspector").get(f"/rooms/{rid}").get_data(as_text=True)
