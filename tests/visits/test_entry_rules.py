"""Every entry rule of SPEC §4 and its reason code, through the services (parametrized)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from registry.core.errors import REASONS, RuleViolation
from registry.core.models import utcnow
from registry.extensions import db
from registry.visits import rules, services
from registry.visits.models import Visit
from tests.visits import scenarios


@pytest.mark.parametrize("reason,scenario", scenarios.REFUSED, ids=[f.__name__ for _r, f in scenarios.REFUSED])
def test_entry_refused(world, reason, scenario):
    s = scenario(world)
    before = db.session.scalar(sa.select(sa.func.count(Visit.id)))
    with pytest.raises(RuleViolation) as info:
        services.enter(db.session, s["visitor"], s["room"], escort=s["escort"], actor=world.officer)
    exc = info.value
    assert exc.code == reason
    assert exc.status == REASONS[reason][0]
    assert exc.event_kind == "entry_denied"
    assert exc.subject is s["visitor"]
    assert exc.details["room"] == s["room"].code
    db.session.rollback()  # as the entry points do: nothing of the refused entry survives
    assert db.session.scalar(sa.select(sa.func.count(Visit.id))) <= before


@pytest.mark.parametrize("scenario", scenarios.ALLOWED, ids=[f.__name__ for f in scenarios.ALLOWED])
def test_entry_allowed(world, scenario):
    s = scenario(world)
    visit = services.enter(db.session, s["visitor"], s["room"], escort=s["escort"], actor=world.officer,
                           devices=[{"kind": "phone", "disposition": "deposited", "note": ""}])
    assert visit.id and visit.exited_at is None
    assert visit.escort_id == (s["escort"].id if s["escort"] else None)
    assert visit.devices == [{"kind": "phone", "disposition": "deposited", "note": ""}]
    assert services.open_visit(db.session, s["visitor"]) is visit
    if rules.needs_permission(s["room"]):
        assert visit.permission_id is not None


def test_every_entry_reason_is_covered_and_known():
    covered = {r for r, _f in scenarios.REFUSED}
    assert covered == set(rules.ENTRY_REASONS)
    assert all(code in REASONS for code in rules.ENTRY_REASONS)


def test_entry_is_audited(world):
    from registry.core.audit import AuditEvent

    s = scenarios.escorted_with_everything(world)
    visit = services.enter(db.session, s["visitor"], s["room"], escort=s["escort"], actor=world.officer)
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "visit.enter")).one()
    assert event.entity_id == visit.id
    assert event.data["room"] == s["room"].code and event.data["escort"] == s["escort"].employee_no
    assert event.actor == world.officer.username


def test_exit_then_exit_again_is_not_inside(world):
    s = scenarios.open_room_foreigner(world)
    visit = services.enter(db.session, s["visitor"], s["room"], actor=world.officer)
    services.exit_visit(db.session, visit, actor=world.officer)
    assert visit.exited_at is not None
    with pytest.raises(RuleViolation) as info:
        services.exit_visit(db.session, visit, actor=world.officer)
    assert info.value.code == "not_inside" and info.value.status == 409
    assert info.value.event_kind == "exit_denied"
    with pytest.raises(RuleViolation) as info:
        services.exit_visitor(db.session, s["visitor"], actor=world.officer)
    assert info.value.code == "not_inside"


def test_after_exit_the_visitor_may_enter_again(world):
    s = scenarios.open_room_foreigner(world)
    first = services.enter(db.session, s["visitor"], s["room"], actor=world.officer)
    services.exit_visitor(db.session, s["visitor"], actor=world.officer)
    second = services.enter(db.session, s["visitor"], s["room"], actor=world.officer)
    assert second.id != first.id and first.exited_at is not None


def test_escort_seat_is_freed_by_exit(world):
    s = scenarios.escort_group_full(world)
    world.commit()
    with pytest.raises(RuleViolation):
        services.enter(db.session, s["visitor"], s["room"], escort=s["escort"], actor=world.officer)
    db.session.rollback()
    inside = services.occupants(db.session, s["room"])
    assert len(inside) == 1
    services.exit_visit(db.session, inside[0], actor=world.officer)
    visit = services.enter(db.session, s["visitor"], s["room"], escort=s["escort"], actor=world.officer)
    assert visit.id and visit.escort_id == s["escort"].id


def test_one_open_visit_per_visitor_is_a_database_invariant(world):
    s = scenarios.open_room_foreigner(world)
    services.enter(db.session, s["visitor"], s["room"], actor=world.officer)
    db.session.add(Visit(visitor_id=s["visitor"].id, room_id=s["room"].id, entered_at=utcnow()))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_integrity_error_maps_to_already_inside(world, monkeypatch):
    """If two entries race past the check, the partial unique index refuses the second: already_inside."""
    s = scenarios.open_room_foreigner(world)
    other = world.room(foreign_policy="open", level="internal")
    services.enter(db.session, s["visitor"], s["room"], actor=world.officer)
    monkeypatch.setattr(services, "open_visit", lambda session, visitor: None)  # the check saw nothing yet
    with pytest.raises(RuleViolation) as info:
        services.enter(db.session, s["visitor"], other, actor=world.officer)
    assert info.value.code == "already_inside" and info.value.status == 409


def test_visit_window_uses_the_unit_time_zone(world):
    """At 23:30 UTC it is already the next day in Shanghai: a visitor expected only 'tomorrow' (UTC) is in."""
    from datetime import datetime, timezone

    s = scenarios.open_room_foreigner(world)
    late = datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc)  # 2026-03-02 07:30 in Asia/Shanghai
    v = s["visitor"]
    v.arrives_on = v.departs_on = late.date() + timedelta(days=1)
    assert services.enter(db.session, v, s["room"], actor=world.officer, now=late).id


def test_visit_flags_warn_about_lapsed_permissions(world):
    s = scenarios.escorted_with_everything(world)
    visit = services.enter(db.session, s["visitor"], s["room"], escort=s["escort"], actor=world.officer)
    now = utcnow()
    assert rules.visit_flags(visit, now=now, today=now.date()) == []
    services.revoke_permission(db.session, visit.permission, actor=world.officer)
    s["visitor"].blocked, s["visitor"].blocked_reason = True, "x"
    assert set(rules.visit_flags(visit, now=now, today=now.date() + timedelta(days=5))) == {
        "permission_lapsed", "blocked", "window_over"}


@pytest.mark.parametrize("value,full,expected", [
    ("E12345678", True, "E12345678"), ("E12345678", False, "****5678"), ("1234", False, "****"),
    ("", False, ""), (None, False, "")])
def test_mask_id_doc(value, full, expected):
    class U:
        is_authenticated = True

        def __init__(self, role):
            self.role = role

        def has_role(self, *roles):
            return self.role == "admin" or self.role in roles

    assert rules.mask_id_doc(value, U("officer" if full else "guard")) == expected
    assert rules.mask_id_doc("E12345678", None) == "****5678"
    for role in ("guard", "inspector", "approver", "staff"):
        assert rules.mask_id_doc("E12345678", U(role)) == "****5678"
    assert rules.mask_id_doc("E12345678", U("admin")) == "E12345678"
