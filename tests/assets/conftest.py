"""Fixtures for custody tests: a small world of people, users and items, and refusal scenarios."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry.extensions import db
from tests.assets import helpers as h


@pytest.fixture
def world(ctx):
    """Within an app context: officer, approver (with a person), staff (with a person), borrowers."""
    w = {}
    w["borrower"] = h.person(category="important")              # secret clearance, Lab 1
    w["general"] = h.person(category="general")                 # confidential clearance
    w["officer_person"] = h.person(category="core", department="Security office")
    w["officer"] = h.user("officer", person_id=w["officer_person"].id)
    w["approver_person"] = h.person(category="core")
    w["approver"] = h.user("approver", person_id=w["approver_person"].id)
    w["staff"] = h.user("staff", person_id=w["general"].id)
    w["room_secret"] = h.room(level="secret")
    w["room_internal"] = h.room(level="internal")
    db.session.commit()
    return w


def approve_checkout(w, asset, borrower, *, requester=None):
    from registry.approvals import services as approvals

    a = approvals.request_approval(db.session, kind="checkout", actor=requester or w["officer"], purpose="review",
                                   asset_id=asset.id, borrower_id=borrower.id)
    approvals.decide(db.session, a, decision="approved", reason="ok", actor=w["approver"])
    return a


class Scenarios:
    """Builds, inside an app context and committed, the situation in which a rule refuses.

    Each builder returns a dict: asset (id, registry_no), borrower (id, employee_no), extra
    payload for the checkout and whether the action is a staff self-service one.
    """

    CHECKOUT_REASONS = ["asset_unavailable", "asset_destroyed", "borrower_inactive", "clearance_insufficient",
                        "commitment_missing", "not_in_scope", "approval_required", "approval_invalid",
                        "foreign_national", "due_too_late", "device_level_too_low", "self_checkout_not_allowed"]

    def __init__(self, app):
        self.app = app

    def build(self, reason: str) -> dict:
        with self.app.app_context():
            out = getattr(self, f"_{reason}")()
            db.session.commit()
            asset, borrower = out.pop("asset"), out.pop("borrower")
            out.update(asset_id=asset.id, registry_no=asset.registry_no, borrower_id=borrower.id,
                       employee_no=borrower.employee_no)
            out.setdefault("payload", {})
            out.setdefault("staff", False)
            return out

    def _asset_unavailable(self):
        from registry.assets import services

        a, b = h.asset(level="internal"), h.person()
        services.checkout(db.session, a, h.person(), actor=None, purpose="first")
        return {"asset": a, "borrower": b}

    def _asset_destroyed(self):
        from registry.assets import services

        a = h.asset(level="internal")
        services.mark_destroyed(db.session, a, actor=None, reference="test")
        return {"asset": a, "borrower": h.person()}

    def _borrower_inactive(self):
        return {"asset": h.asset(level="internal"), "borrower": h.person(status="left")}

    def _clearance_insufficient(self):
        return {"asset": h.asset(level="secret"), "borrower": h.person(category="general")}

    def _commitment_missing(self):
        return {"asset": h.asset(level="confidential"),
                "borrower": h.person(commitment_expires_on=date.today() - timedelta(days=1))}

    def _not_in_scope(self):
        return {"asset": h.asset(level="confidential", scope_departments=["Lab 9"]),
                "borrower": h.person(department="Lab 1")}

    def _approval_required(self):
        return {"asset": h.asset(level="secret"), "borrower": h.person()}

    def _approval_invalid(self):
        from registry.approvals import services as approvals

        a, b, other = h.asset(level="secret"), h.person(), h.person()
        officer, approver = h.user("officer"), h.user("approver")
        ap = approvals.request_approval(db.session, kind="checkout", actor=officer, purpose="x", asset_id=a.id,
                                        borrower_id=other.id)
        approvals.decide(db.session, ap, decision="approved", reason="", actor=approver)
        return {"asset": a, "borrower": b, "payload": {"approval_id": ap.id}}

    def _foreign_national(self):
        return {"asset": h.asset(level="confidential"), "borrower": h.person(nationality="DE", category="core")}

    def _due_too_late(self):
        return {"asset": h.asset(level="confidential"), "borrower": h.person(),
                "payload": {"due_at": (date.today() + timedelta(days=60)).isoformat()}}

    def _device_level_too_low(self):
        computer = h.asset(kind="computer", level="confidential")
        return {"asset": h.asset(kind="storage", level="secret"), "borrower": h.person(),
                "payload": {"device_id": computer.id}, "device_no": computer.registry_no}

    def _self_checkout_not_allowed(self):
        person = h.person(category="core")
        return {"asset": h.asset(level="secret"), "borrower": person, "staff": True}


@pytest.fixture
def scenarios(app):
    return Scenarios(app)


def security_events(app, reason: str) -> list:
    from registry.core.security_events import SecurityEvent

    with app.app_context():
        return list(db.session.scalars(sa.select(SecurityEvent).where(SecurityEvent.reason == reason)))
