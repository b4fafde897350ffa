"""Area permissions: who may get one, the approval requirement, revocation (through the services)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.approvals.models import ApprovalStatus
from registry.core.audit import AuditEvent
from registry.core.errors import RuleViolation, ValidationFailed
from registry.core.models import utcnow
from registry.extensions import db
from registry.visits import services


def _window(hours=4):
    now = utcnow()
    return {"valid_from": now - timedelta(minutes=5), "valid_until": now + timedelta(hours=hours),
            "escort_required": True, "approval_id": None, "note": ""}


def _blocked(w):
    return w.visitor(blocked=True, blocked_reason="incident"), w.room(level="internal")


def _forbidden(w):
    return w.visitor(nationality="DE"), w.room(foreign_policy="forbidden", level="internal")


def _project_pending(w):
    return w.visitor(nationality="CN", project_id=w.project(review_status="pending", reviewed_on=None).id), \
        w.room(level="internal")


def _project_rejected(w):
    return w.visitor(nationality="CN", project_id=w.project(review_status="rejected", conclusion="no").id), \
        w.room(level="internal")


def _foreign_confidential(w):
    return w.visitor(nationality="JP"), w.room(level="confidential")


def _foreign_top_secret_rejected_approval(w):
    v, r = w.visitor(nationality="US"), w.room(level="top_secret")
    w.approval(v, r, decision="rejected")
    return v, r


def _approval_for_other_room(w):
    v = w.visitor(nationality="US")
    w.approval(v, w.room(level="secret"))
    return v, w.room(level="secret")


@pytest.mark.parametrize("reason,setup", [
    ("visitor_blocked", _blocked),
    ("room_forbidden_for_foreigners", _forbidden),
    ("project_review_pending", _project_pending),
    ("project_review_pending", _project_rejected),
    ("approval_required", _foreign_confidential),
    ("approval_required", _foreign_top_secret_rejected_approval),
    ("approval_required", _approval_for_other_room),
])
def test_permission_refused(world, reason, setup):
    visitor, room = setup(world)
    with pytest.raises(RuleViolation) as info:
        services.grant_permission(db.session, visitor, room, _window(), actor=world.officer)
    assert info.value.code == reason
    assert info.value.event_kind == "permission_denied"
    assert info.value.details["room"] == room.code


@pytest.mark.parametrize("nationality,level,project_status", [
    ("DE", "internal", None),            # foreign, below confidential: no approval needed
    ("CN", "top_secret", None),          # domestic: no approval needed
    ("HK", "unclassified", "conditional"),  # passed with conditions counts as passed
    ("CN", "secret", "passed"),
])
def test_permission_without_approval(world, nationality, level, project_status):
    project = world.project(review_status=project_status) if project_status else None
    visitor = world.visitor(nationality=nationality, project_id=project.id if project else None)
    room = world.room(level=level, foreign_policy="escorted")
    p = services.grant_permission(db.session, visitor, room, _window(), actor=world.officer)
    assert p.id and p.approval_id is None and p.revoked_at is None
    assert p.covers(utcnow())


def test_foreign_visitor_permission_consumes_the_approval(world):
    visitor, room = world.visitor(nationality="DE"), world.room(level="secret")
    approval = world.approval(visitor, room)
    p = services.grant_permission(db.session, visitor, room, _window(), actor=world.officer)
    assert p.approval_id == approval.id
    db.session.refresh(approval)
    assert approval.status == ApprovalStatus.USED and approval.used_for == f"area_permissions#{p.id}"
    with pytest.raises(RuleViolation) as info:  # used up: a second permission needs a new approval
        services.grant_permission(db.session, visitor, room, _window(), actor=world.officer)
    assert info.value.code == "approval_required"


def test_named_approval_must_be_usable(world):
    visitor, room = world.visitor(nationality="DE"), world.room(level="secret")
    rejected = world.approval(visitor, room, decision="rejected")
    with pytest.raises(RuleViolation) as info:
        services.grant_permission(db.session, visitor, room, {**_window(), "approval_id": rejected.id},
                                  actor=world.officer)
    assert info.value.code == "approval_invalid"
    good = world.approval(visitor, room)
    p = services.grant_permission(db.session, visitor, room, {**_window(), "approval_id": good.id},
                                  actor=world.officer)
    assert p.approval_id == good.id


def test_host_cannot_approve_their_own_visitor(world):
    """The visitor's host benefits from the approval: deciding it is self-approval."""
    from registry.approvals import services as approvals

    host = world.person(category="core")
    visitor = world.visitor(nationality="DE", host_id=host.id)
    room = world.room(level="secret")
    approver = world.user("approver")
    approver.person_id = host.id
    a = approvals.request_approval(db.session, kind="area_permission", actor=world.officer, purpose="visit",
                                   visitor_id=visitor.id, room_id=room.id)
    with pytest.raises(RuleViolation) as info:
        approvals.decide(db.session, a, decision="approved", actor=approver)
    assert info.value.code == "self_approval"


def test_approval_request_for_unreviewed_project_is_refused(world):
    from registry.approvals import services as approvals

    visitor = world.visitor(project_id=world.project(review_status="pending", reviewed_on=None).id)
    with pytest.raises(RuleViolation) as info:
        approvals.request_approval(db.session, kind="area_permission", actor=world.officer, purpose="visit",
                                   visitor_id=visitor.id, room_id=world.room(level="secret").id)
    assert info.value.code == "project_review_pending"


@pytest.mark.parametrize("policy,given,stored", [("escorted", False, True), ("forbidden", False, True),
                                                 ("open", False, False), ("open", True, True)])
def test_rooms_that_need_an_escort_store_escort_required(world, policy, given, stored):
    visitor = world.visitor(nationality="CN")
    room = world.room(level="internal", foreign_policy=policy)
    p = services.grant_permission(db.session, visitor, room, {**_window(), "escort_required": given},
                                  actor=world.officer)
    assert p.escort_required is stored


@pytest.mark.parametrize("start,end", [(2, 1), (-5, -1)])
def test_permission_window_must_make_sense(world, start, end):
    now = utcnow()
    with pytest.raises(ValidationFailed) as info:
        services.grant_permission(db.session, world.visitor(nationality="CN"), world.room(level="internal"),
                                  {"valid_from": now + timedelta(hours=start), "valid_until": now + timedelta(hours=end)},
                                  actor=world.officer)
    assert "valid_until" in info.value.details


def test_revoke_sets_revoked_at_once_and_is_audited(world):
    visitor, room = world.visitor(nationality="CN"), world.room(level="internal")
    p = services.grant_permission(db.session, visitor, room, _window(), actor=world.officer)
    assert services.revoke_permission(db.session, p, actor=world.officer, reason="plan changed") is True
    first = p.revoked_at
    assert first is not None and p.revoke_reason == "plan changed"
    assert services.revoke_permission(db.session, p, actor=world.officer) is False
    assert p.revoked_at == first
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_type == "area_permissions",
                                                                    AuditEvent.entity_id == p.id)).all()
    assert actions == ["permission.grant", "permission.revoke"]
    assert services.covering_permission(db.session, visitor, room, utcnow()) is None


def test_permission_listings_per_visitor_and_room(world):
    a, b = world.visitor(nationality="CN"), world.visitor(nationality="CN")
    r1, r2 = world.room(level="internal"), world.room(level="internal")
    p1 = services.grant_permission(db.session, a, r1, _window(), actor=world.officer)
    p2 = services.grant_permission(db.session, a, r2, _window(), actor=world.officer)
    p3 = services.grant_permission(db.session, b, r1, _window(), actor=world.officer)
    services.revoke_permission(db.session, p2, actor=world.officer)
    ids = lambda stmt: {p.id for p in db.session.scalars(stmt).unique()}  # noqa: E731
    assert ids(services.permissions_query(visitor_id=a.id)) == {p1.id, p2.id}
    assert ids(services.permissions_query(room_id=r1.id)) == {p1.id, p3.id}
    assert ids(services.permissions_query(visitor_id=a.id, active_at=utcnow())) == {p1.id}
    assert ids(services.permissions_query(visitor_id=a.id, include_revoked=False)) == {p1.id}
