"""Factories for custody tests: people, rooms, users and items created through the real services."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from registry.extensions import db

_n = itertools.count(1)


def person(**kw):
    """A person (default: important = secret clearance, valid commitment letter, CN, Lab 1)."""
    from registry.people import services

    n = next(_n)
    data = {"name": f"Borrower {n}", "employee_no": f"B{n:05d}", "department": "Lab 1", "position": "Engineer",
            "nationality": "CN", "category": "important", "commitment_signed_on": date.today() - timedelta(days=30),
            "commitment_expires_on": date.today() + timedelta(days=365), "status": "active",
            "decommission_until": None, "phone": "", "notes": ""}
    data.update(kw)
    return services.create_person(db.session, data, actor=None)


def room(**kw):
    from registry.areas import services

    n = next(_n)
    data = {"code": f"RM-{n}", "name": f"Room {n}", "location": "", "level": "secret", "foreign_policy": "escorted",
            "max_visitors_per_escort": 5, "protection": "", "responsible_id": None}
    data.update(kw)
    return services.create_room(db.session, data, actor=None)


def user(role, person_id=None, username=None):
    from registry.auth import services

    return services.create_user(db.session, username=username or f"{role}_{next(_n)}", role=role,
                                password="correct horse battery staple", actor=None, person_id=person_id)


def asset(**kw):
    """An item through create_asset (default: confidential media)."""
    from registry.assets import services

    n = next(_n)
    data = {"kind": "media", "subtype": None, "title": f"Item {n}", "level": "confidential"}
    data.update(kw)
    if data["subtype"] is None:
        data["subtype"] = {"media": "paper", "computer": "laptop", "storage": "usb_flash",
                           "equipment": "printer"}[data["kind"]]
    return services.create_asset(db.session, data, actor=None)
