"""Dashboard (SPEC §7): SVG charts without script or style, figures, role-aware tiles and panels, both languages."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from registry.core.models import utcnow
from registry.dashboard import figures
from registry.dashboard.charts import Bar, _nice_max, bar_chart, column_chart, grouped_column_chart
from registry.extensions import db
from tests.people import helpers as h

TODAY = date.today()


# ------------------------------------------------------------------ charts

@pytest.mark.parametrize("value, expected", [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20), (480, 500),
                                             (501, 1000)])
def test_nice_max(value, expected):
    assert _nice_max(value) == expected


@pytest.mark.parametrize("make", [
    lambda bars: bar_chart(bars, title="T <b>"),
    lambda bars: column_chart(bars, title="T <b>", label_every=1),
    lambda bars: grouped_column_chart([b.label for b in bars], [("A", "chart-bar", [b.value for b in bars]),
                                                                 ("B", "chart-bar-alt", [1 for _ in bars])],
                                      title="T <b>", label_every=1),
])
def test_charts_are_safe_svg(make):
    svg = str(make([Bar("<script>x</script>", 7), Bar("秘密", 3, "chart-bar chart-lv-confidential")]))
    assert svg.startswith("<svg") and svg.endswith("</svg>") and 'role="img"' in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "T &lt;b&gt;" in svg
    assert " style=" not in svg and "<style" not in svg
    assert ">7<" in svg and ">3<" in svg  # the numbers are printed


def test_empty_charts_say_so():
    assert "Nothing yet" in str(bar_chart([], title="x", empty_text="Nothing yet"))
    assert "None" in str(column_chart([Bar("1", 0), Bar("2", 0)], title="x", empty_text="None"))


# ------------------------------------------------------------------ figures

def test_per_day_figures_and_refusals(ctx):
    from registry.core.security_events import record_security_event

    officer = h.user("officer")
    item = h.asset(room_id=h.room().id)
    h.checkout(item, h.person(), officer)
    record_security_event(db.session, kind="checkout_denied", reason="clearance_insufficient", actor=officer)
    record_security_event(db.session, kind="checkout_denied", reason="clearance_insufficient", actor=officer)
    record_security_event(db.session, kind="overdue", reason="overdue", actor=officer)  # not a refusal
    db.session.commit()
    tz = ZoneInfo("Asia/Shanghai")
    days = figures.checkouts_per_day(db.session, utcnow(), tz, 30)
    assert len(days) == 30 and days[-1] == (utcnow().astimezone(tz).date(), 1) and sum(n for _d, n in days) == 1
    assert sum(n for _d, n in figures.visits_per_day(db.session, utcnow(), tz, 30)) == 0
    assert figures.refusals_by_reason(db.session, utcnow()) == [("clearance_insufficient", 2)]


def test_declassifying_soon(ctx):
    h.asset(declassify_on=TODAY + timedelta(days=30))
    h.asset(declassify_on=TODAY + timedelta(days=200))
    gone = h.asset(declassify_on=TODAY + timedelta(days=10))
    from registry.assets import services as custody

    custody.mark_destroyed(db.session, gone, actor=None)
    assert figures.declassifying_soon(db.session, TODAY, 90) == 1


# ------------------------------------------------------------------ tiles and panels by role

@pytest.fixture
def world(app):
    with app.app_context():
        from registry.people import services as people

        staff_person = h.person(commitment_expires_on=TODAY + timedelta(days=10))
        h.person(commitment_signed_on=None, commitment_expires_on=None)
        people.add_reminder(db.session, staff_person, {"date": TODAY, "occasion": "trip"}, actor=None)
        from registry.stocktake import services as stocktake

        stocktake.start_inventory(db.session, [], actor=None)
        db.session.commit()
        return {"staff_person": staff_person.id}


def _tiles(client):
    return {t["key"]: t for t in client.get("/api/v1/dashboard").get_json()["tiles"] if t["key"]}


def test_tiles_by_role(app, api, world):
    officer = _tiles(api("officer"))
    assert officer["commitments"]["value"] == 2 and officer["commitments"]["warn"] is True
    assert officer["inventories"]["value"] == 1 and officer["provisions"]["value"] == 0
    assert "declassify" in officer
    approver = _tiles(api("approver"))
    assert "inventories" not in approver and "commitments" in approver
    staff = _tiles(api("staff", person_id=world["staff_person"]))
    assert set(staff) == {"my_reminders", "my_commitment"}
    assert staff["my_reminders"]["value"] == 1 and staff["my_commitment"]["value"] == 10
    assert staff["my_commitment"]["warn"] is True
    assert _tiles(api("guard")) == {}
    # the endpoint also carries the other domains' tiles
    assert len(api("officer").get("/api/v1/dashboard").get_json()["tiles"]) > len(officer)


@pytest.mark.parametrize("lang, words", [("en", ["Checkouts and visits per day", "Items by kind, level and status",
                                                  "Refusals, last 7 days, by reason", "Expiring soon"]),
                                         ("zh_CN", [])])
def test_dashboard_page(as_role, world, lang, words):
    html = as_role("officer").get(f"/?lang={lang}").get_data(as_text=True)
    assert html.count("<svg") >= 5 and 'class="chart-svg' in html
    assert ' style=' not in html and "<script>" not in html
    for w in words:
        assert w in html
    if lang == "zh_CN":
        assert 'lang="zh-CN"' in html


def test_staff_dashboard_has_no_unit_charts(as_role, world):
    html = as_role("staff", person_id=world["staff_person"]).get("/?lang=en").get_data(as_text=True)
    assert "Reminders to acknowledge" in html and "My commitment letter" in html
    assert "Items by kind" not in html and "<svg" not in html


def test_guard_goes_to_the_station(as_role):
    resp = as_role("guard").get("/")
    assert resp.status_code in (200, 302)
    if resp.status_code == 302:
        assert "guard" in resp.headers["Location"]


def test_demo_data_fills_the_dashboard(app, as_role):
    from registry.core.demo import load_demo

    with app.app_context():
        load_demo(db.session)
        db.session.commit()
    html = as_role("officer").get("/?lang=en").get_data(as_text=True)
    values = dict((label.strip(), int(v)) for v, label in re.findall(
        r'<span class="tile-value">(\d+)</span>\s*<span class="tile-label">([^<]+)</span>', html))
    assert values["Open inventories"] == 1 and values["Provisions in progress"] == 2
    assert values["Commitment letters to renew"] >= 2
    assert "Still holds items" in html and "Project review pending" in html
