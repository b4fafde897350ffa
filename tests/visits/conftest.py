"""Visit fixtures: a small world of rooms, staff and visitors built through the real services."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry.extensions import db
from tests.conftest import PASSWORD

_counter = itertools.count(1)


class World:
    """Builds records inside the test's app context (the ctx or an explicit app_context) and
    flushes; `commit()` makes them visible to clients and other connections."""

    def __init__(self, app, make):
        self.app = app
        self.make = make
        self._officer = None
        self._approver = None

    # Everything through the real services in the current session (flushed, not committed):
    # on SQLite a second connection could not write while this session holds the write lock.
    def room(self, **kw):
        from registry.areas import services

        n = next(_counter)
        data = {"code": f"VR-{n}", "name": f"Room {n}", "location": "Building A", "level": "secret",
                "foreign_policy": "escorted", "max_visitors_per_escort": 5, "protection": "", "responsible_id": None}
        data.update(kw)
        room = services.create_room(db.session, data, actor=None)
        db.session.flush()
        db.session.refresh(room)
        return room

    def person(self, **kw):
        from registry.people import services

        n = next(_counter)
        data = {"name": f"Escort {n}", "employee_no": f"VE{n:05d}", "department": "Lab 1", "position": "Engineer",
                "nationality": "CN", "category": "important", "commitment_signed_on": date.today() - timedelta(days=30),
                "commitment_expires_on": date.today() + timedelta(days=365), "status": "active",
                "decommission_until": None, "phone": "010-1234", "notes": ""}
        data.update(kw)
        person = services.create_person(db.session, data, actor=None)
        db.session.flush()
        db.session.refresh(person)  # enum members, not the strings given
        return person

    def visitor(self, **kw):
        from registry.visits import services

        n = next(_counter)
        data = {"name": f"Visitor {n}", "name_alt": "", "nationality": "DE", "id_doc_type": "passport",
                "id_doc_no": f"C{n:08d}", "organization": "Partner GmbH", "position": "", "purpose": "meeting",
                "host_id": None, "project_id": None, "arrives_on": date.today() - timedelta(days=1),
                "departs_on": date.today() + timedelta(days=1), "blocked": False, "blocked_reason": "", "notes": ""}
        data.update(kw)
        return services.create_visitor(db.session, data, actor=None)

    def project(self, **kw):
        from registry.cooperation import services

        n = next(_counter)
        data = {"name": f"Project {n}", "partner": "Partner GmbH", "partner_country": "DE", "department": "Lab 1",
                "description": "", "starts_on": None, "ends_on": None, "review_status": "passed",
                "reviewed_by": None, "reviewed_on": date.today() - timedelta(days=10), "conclusion": "ok"}
        data.update(kw)
        return services.create_project(db.session, data, actor=None)

    def user(self, role):
        from registry.auth import services

        n = next(_counter)
        return services.create_user(db.session, username=f"v{role}{n}", role=role, password=PASSWORD, actor=None)

    @property
    def officer(self):
        if self._officer is None:
            self._officer = self.user("officer")
        return self._officer

    @property
    def approver(self):
        if self._approver is None:
            self._approver = self.user("approver")
        return self._approver

    def approval(self, visitor, room, decision="approved"):
        """An area-permission approval requested by an officer and decided by an approver."""
        from registry.approvals import services as approvals

        a = approvals.request_approval(db.session, kind="area_permission", actor=self.officer,
                                       purpose="visit", visitor_id=visitor.id, room_id=room.id)
        approvals.decide(db.session, a, decision=decision, reason="" if decision == "approved" else "no",
                         actor=self.approver)
        db.session.flush()
        return a

    def permission(self, visitor, room, *, hours_before=1, hours_after=4, escort_required=True, approve=None, **kw):
        """A permission covering now (approval obtained first when the rules need one)."""
        from registry.core.models import utcnow
        from registry.visits import rules, services

        if approve is None:
            approve = rules.needs_approval(visitor, room, "CN")
        if approve:
            self.approval(visitor, room)
        now = utcnow()
        data = {"valid_from": now - timedelta(hours=hours_before), "valid_until": now + timedelta(hours=hours_after),
                "escort_required": escort_required, "approval_id": None, "note": ""}
        data.update(kw)
        return services.grant_permission(db.session, visitor, room, data, actor=self.officer)

    def raw_permission(self, visitor, room, *, start=-1, end=4, revoked=False):
        """A permission row inserted directly (bypassing grant rules) to test entry order."""
        from registry.core.models import utcnow
        from registry.visits.models import AreaPermission

        now = utcnow()
        p = AreaPermission(visitor_id=visitor.id, room_id=room.id, valid_from=now + timedelta(hours=start),
                           valid_until=now + timedelta(hours=end), escort_required=True,
                           revoked_at=now if revoked else None)
        db.session.add(p)
        db.session.flush()
        return p

    def commit(self):
        db.session.commit()


@pytest.fixture
def world(app, make, ctx):
    """A World in the test's app context (service-level tests)."""
    return World(app, make)


def security_events(kind=None, reason=None):
    from registry.core.security_events import SecurityEvent

    stmt = sa.select(SecurityEvent).order_by(SecurityEvent.id)
    if kind:
        stmt = stmt.where(SecurityEvent.kind == kind)
    if reason:
        stmt = stmt.where(SecurityEvent.reason == reason)
    return db.session.scalars(stmt).all()


_ = date
