"""Factories for the governance tests (personnel, provisions, inventories, destruction, dashboard).

Everything goes through the real services inside an app context (the `ctx` fixture); callers commit."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from registry.extensions import db

_n = itertools.count(1)
PASSWORD = "correct horse battery staple"


def person(**kw):
    """A person (default: important = secret clearance, valid commitment letter, CN, Lab 1)."""
    from registry.people import services

    n = next(_n)
    data = {"name": f"Gov Person {n}", "employee_no": f"G{n:05d}", "department": "Lab 1", "position": "Engineer",
            "nationality": "CN", "category": "important", "commitment_signed_on": date.today() - timedelta(days=30),
            "commitment_expires_on": date.today() + timedelta(days=365), "status": "active",
            "decommission_until": None, "phone": "", "notes": ""}
    data.update(kw)
    return services.create_person(db.session, data, actor=None)


def room(**kw):
    from registry.areas import services

    n = next(_n)
    data = {"code": f"GR-{n}", "name": f"Room {n}", "location": "", "level": "secret", "foreign_policy": "escorted",
            "max_visitors_per_escort": 5, "protection": "", "responsible_id": None}
    data.update(kw)
    return services.create_room(db.session, data, actor=None)


def user(role, person_id=None, username=None):
    from registry.auth import services

    return services.create_user(db.session, username=username or f"g{role}_{next(_n)}", role=role,
                                password=PASSWORD, actor=None, person_id=person_id)


def asset(**kw):
    """An item through create_asset (default: confidential paper)."""
    from registry.assets import services

    n = next(_n)
    data = {"kind": "media", "subtype": None, "title": f"Gov item {n}", "level": "confidential"}
    data.update(kw)
    if data["subtype"] is None:
        data["subtype"] = {"media": "paper", "computer": "laptop", "storage": "usb_flash",
                           "equipment": "printer"}[data["kind"]]
    return services.create_asset(db.session, data, actor=None)


def checkout(item, borrower, actor):
    """A real checkout (level ≤ confidential needs no approval)."""
    from registry.assets import services

    return services.checkout(db.session, item, borrower, actor=actor, purpose="work")


def project(**kw):
    from registry.cooperation import services

    n = next(_n)
    data = {"name": f"Gov project {n}", "partner": "Partner GmbH", "partner_country": "DE", "department": "Lab 1",
            "description": "", "starts_on": None, "ends_on": None, "review_status": "passed", "reviewed_by": None,
            "reviewed_on": date.today() - timedelta(days=10), "conclusion": "ok"}
    data.update(kw)
    if data["review_status"] == "pending":
        data["reviewed_on"] = None
    return services.create_project(db.session, data, actor=None)


def approve(approval, approver):
    from registry.approvals import services

    return services.decide(db.session, approval, decision="approved", reason="ok", actor=approver)


def events(kind=None, reason=None):
    """Security events, optionally of one kind / reason."""
    import sqlalchemy as sa

    from registry.core.security_events import SecurityEvent

    stmt = sa.select(SecurityEvent).order_by(SecurityEvent.id)
    if kind:
        stmt = stmt.where(SecurityEvent.kind == kind)
    if reason:
        stmt = stmt.where(SecurityEvent.reason == reason)
    return list(db.session.scalars(stmt))


def audit_actions(prefix):
    import sqlalchemy as sa

    from registry.core.audit import AuditEvent

    return list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.startswith(prefix))
                                   .order_by(AuditEvent.seq)))
