"""No N+1 on the dashboard and the register list pages (issue 8).

Each page is rendered with 5 rows per register, then again after 45 more rows were added (50),
and the number of SQL statements it sends (sqlalchemy "before_cursor_execute") must not grow
with the rows. Data goes in through the real services (audit, labels, rules), once per module.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from registry.extensions import db

# (url, role) — the dashboard and every register list page (GET, no path arguments)
PAGES = [
    ("/", "officer"),
    ("/", "admin"),
    ("/items/", "officer"),
    ("/items/?kind=media", "inspector"),
    ("/checkouts/", "officer"),
    ("/checkouts/?open=1", "officer"),
    ("/people/", "officer"),
    ("/people/commitments", "officer"),
    ("/people/reminders", "officer"),
    ("/people/trainings", "officer"),
    ("/rooms/", "officer"),
    ("/visitors", "officer"),
    ("/visitors/blocked", "officer"),
    ("/visits", "officer"),
    ("/permissions", "officer"),
    ("/approvals/", "officer"),
    ("/audit", "officer"),
    ("/security-events", "officer"),
    ("/projects", "officer"),
    ("/provisions/", "officer"),
    ("/stocktake/inventories", "officer"),
    ("/destructions/", "officer"),
    ("/registers/", "officer"),
    ("/guard/board", "guard"),
    ("/admin/users", "admin"),
]

_n = itertools.count(1)


def _seed(app, count: int) -> None:
    """`count` more rows in every register a list page shows, through the services."""
    from registry.approvals import services as approvals
    from registry.areas import services as areas
    from registry.assets import services as assets
    from registry.cooperation import services as coop
    from registry.core.security_events import record_security_event
    from registry.people import services as people
    from registry.visits import services as visits

    today = date.today()
    now = datetime.now(timezone.utc)
    with app.app_context():
        s = db.session
        for _ in range(count):
            n = next(_n)
            p = people.create_person(s, {
                "name": f"Perf {n}", "employee_no": f"PQ{n:05d}", "department": f"Lab {n % 3}", "position": "Eng",
                "nationality": "CN", "category": "important", "commitment_signed_on": today - timedelta(days=30),
                "commitment_expires_on": today + timedelta(days=10 + n % 40), "status": "active",
                "decommission_until": None, "phone": "", "notes": ""}, actor=None)
            people.add_training(s, p, {"date": today, "course": f"Course {n}", "hours": 2}, actor=None)
            people.add_reminder(s, p, {"date": today, "occasion": "trip", "given_by": None,
                                       "description": "", "acknowledged": n % 2 == 0}, actor=None)
            room = areas.create_room(s, {"code": f"PQR-{n}", "name": f"Room {n}", "location": "A",
                                         "level": "internal", "foreign_policy": "escorted",
                                         "max_visitors_per_escort": 5, "protection": "",
                                         "responsible_id": p.id}, actor=None)
            item = assets.create_asset(s, {"kind": ["media", "computer", "storage", "equipment"][n % 4],
                                           "subtype": None or ["paper", "laptop", "usb_flash", "printer"][n % 4],
                                           "title": f"Item {n}", "level": "confidential", "custodian_id": p.id,
                                           "room_id": room.id, "scope_departments": [f"Lab {n % 3}"] if n % 5 == 0 else []},
                                       actor=None)
            co = assets.checkout(s, item, p, actor=None, purpose="perf test")
            if n % 2:
                assets.checkin(s, item, actor=None, condition="intact")
            del co
            visitor = visits.create_visitor(s, {
                "name": f"Guest {n}", "name_alt": "", "nationality": "DE", "id_doc_type": "passport",
                "id_doc_no": f"PQ{n:08d}", "organization": "Partner GmbH", "position": "", "purpose": "meeting",
                "host_id": p.id, "project_id": None, "arrives_on": today - timedelta(days=1),
                "departs_on": today + timedelta(days=1), "blocked": False, "blocked_reason": "", "notes": ""},
                actor=None)
            visits.grant_permission(s, visitor, room, {"valid_from": now - timedelta(hours=1),
                                                       "valid_until": now + timedelta(days=1),
                                                       "escort_required": True, "note": ""}, actor=None)
            visit = visits.enter(s, visitor, room, escort=p, actor=None)
            if n % 2:
                visits.exit_visit(s, visit, actor=None)
            approvals.request_approval(s, kind="checkout", actor=None, purpose="perf", asset_id=item.id,
                                       borrower_id=p.id)
            record_security_event(s, kind="checkout_denied", actor=None, reason="clearance_insufficient",
                                  subject=item, details={"n": n})
            coop.create_project(s, {"name": f"Project {n}", "partner": "Partner GmbH", "partner_country": "DE",
                                    "department": "Lab 1", "description": "", "starts_on": None, "ends_on": None},
                                actor=None)
            s.commit()


def _count(app, client, url) -> tuple[int, int]:
    with app.app_context():
        engine = db.engine
    seen = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        resp = client.get(url)
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    return resp.status_code, len(seen)


@pytest.fixture
def seeded(app, as_role):
    clients = {role: as_role(role) for role in {r for _u, r in PAGES}}
    _seed(app, 5)
    small = {}
    for url, role in PAGES:
        _count(app, clients[role], url)  # warm-up: first-use caches (settings, templates)
        small[(url, role)] = _count(app, clients[role], url)
    _seed(app, 45)
    return clients, small


def test_statements_per_page_do_not_grow_with_rows(app, seeded):
    clients, small = seeded
    grown = []
    for url, role in PAGES:
        status5, n5 = small[(url, role)]
        # warm-up again, as for the first count: seeding 45 rows can outlast the settings cache
        # (SETTINGS_CACHE_SECONDS) on a slow machine, and its re-read is not a statement per row
        _count(app, clients[role], url)
        status50, n50 = _count(app, clients[role], url)
        assert status5 == 200 and status50 == 200, (url, role, status5, status50)
        if n50 > n5:
            grown.append(f"{url} as {role}: {n5} statements with 5 rows, {n50} with 50")
    assert not grown, "statements grow with rows (N+1):\n" + "\n".join(grown)
