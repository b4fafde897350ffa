"""The dashboard at full size (issue 8): figures counted in SQL, and the per-process cache of the
unit-wide figures (DASHBOARD_CACHE_SECONDS) that never reaches a role that may not see them."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from registry.dashboard import figures, providers
from registry.extensions import db
from tests.people import helpers as h

TODAY = date.today()


def test_commitment_counts_in_sql_match_the_people_register(ctx):
    from registry.people import services as people

    h.person(commitment_signed_on=None, commitment_expires_on=None)                      # missing
    h.person(commitment_signed_on=None, commitment_expires_on=None, category="none")     # not required
    h.person(commitment_expires_on=TODAY - timedelta(days=1))                            # expired
    h.person(commitment_expires_on=TODAY)                                                # expiring (today)
    h.person(commitment_expires_on=TODAY + timedelta(days=30))                           # expiring (edge)
    h.person(commitment_expires_on=TODAY + timedelta(days=31))                           # valid
    h.person(commitment_expires_on=None)                                                 # valid, no end
    h.person(commitment_signed_on=None, commitment_expires_on=None, status="left")       # not on the books
    db.session.commit()
    for days in (0, 1, 30, 60):
        assert figures.commitment_counts(db.session, TODAY, days) == \
            people.commitment_counts(db.session, today=TODAY, within_days=days), days
    assert figures.commitment_counts(db.session, TODAY, 30) == {"missing": 1, "expired": 1, "expiring": 2}


@pytest.fixture
def app_config():
    return {"DASHBOARD_CACHE_SECONDS": 30}


def _values(html):
    return {label.strip(): v for v, label in re.findall(
        r'<span class="tile-value">([^<]+)</span>\s*<span class="tile-label">([^<]+)</span>', html)}


@pytest.fixture
def clock(monkeypatch):
    now = [5000.0]
    monkeypatch.setattr(providers.time, "monotonic", lambda: now[0])
    return now


def test_cached_figures_are_reused_then_refreshed(app, as_role, clock):
    officer = as_role("officer")
    with app.app_context():
        h.person(commitment_signed_on=None, commitment_expires_on=None)
        db.session.commit()
    first = _values(officer.get("/?lang=en").get_data(as_text=True))
    assert first["Commitment letters to renew"] == "1"
    with app.app_context():
        h.person(commitment_signed_on=None, commitment_expires_on=None)
        db.session.commit()
    clock[0] += 29
    assert _values(officer.get("/?lang=en").get_data(as_text=True))["Commitment letters to renew"] == "1"
    clock[0] += 2
    assert _values(officer.get("/?lang=en").get_data(as_text=True))["Commitment letters to renew"] == "2"


def test_cached_page_equals_the_uncached_page(app, as_role, clock):
    """Lists kept as plain records render exactly like the ORM rows they came from."""
    with app.app_context():
        h.person(commitment_signed_on=None, commitment_expires_on=None)
        h.person(commitment_expires_on=TODAY + timedelta(days=5))
        h.asset(declassify_on=TODAY + timedelta(days=20))
        db.session.commit()
    officer = as_role("officer")

    def page():
        html = officer.get("/?lang=en").get_data(as_text=True)
        html = re.sub(r'name="csrf[-_]token"[^>]*', "", html)  # signed with the time: differs by the second
        return re.sub(r'"chart\d+"', '"chart"', html)  # the SVG title ids count per process

    cold = page()   # computed, then kept
    warm = page()   # from the cache
    app.config["DASHBOARD_CACHE_SECONDS"] = 0
    fresh = page()  # no cache at all
    assert "Gov Person" in cold and "days left" in cold
    assert cold == warm == fresh


def test_staff_never_get_unit_wide_figures_from_a_warm_cache(app, as_role, clock):
    with app.app_context():
        mine = h.person(commitment_expires_on=TODAY + timedelta(days=10)).id
        for _ in range(3):
            h.person(commitment_signed_on=None, commitment_expires_on=None)
        db.session.commit()
    as_role("officer").get("/?lang=en")  # warms the cache with the unit's figures
    staff = as_role("staff", person_id=mine).get("/?lang=en").get_data(as_text=True)
    assert "Items by kind" not in staff and "<svg" not in staff
    values = _values(staff)
    assert "Commitment letters to renew" not in values and values["My commitment letter"] == "10"
    api_tiles = {t["key"] for t in as_role("staff", person_id=mine).get("/api/v1/dashboard").get_json()["tiles"]}
    assert "commitments" not in api_tiles and "declassify" not in api_tiles


def test_role_gated_tiles_stay_gated_with_a_warm_cache(app, api, clock):
    api("officer").get("/api/v1/dashboard")  # warms every unit-wide figure
    approver = {t["key"] for t in api("approver").get("/api/v1/dashboard").get_json()["tiles"]}
    assert "inventories" not in approver and "commitments" in approver
