"""Every checkout, checkin, edit, placement and copy rule of SPEC §4, at the service layer."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from registry.approvals.models import ApprovalStatus
from registry.assets import rules, services
from registry.assets.models import AssetStatus, Checkout
from registry.core.errors import Forbidden, RuleViolation, ValidationFailed
from registry.core.settings import update as update_settings
from registry.extensions import db
from tests.assets import helpers as h
from tests.assets.conftest import approve_checkout


def _checkout(w, asset, borrower, actor="officer", **kw):
    return services.checkout(db.session, asset, borrower, actor=w[actor] if isinstance(actor, str) else actor,
                             purpose="work", **kw)


def _refused(fn, code):
    with pytest.raises(RuleViolation) as exc:
        fn()
    assert exc.value.code == code, exc.value.details
    return exc.value


# ------------------------------------------------------------------ rule 1: available, one open checkout

@pytest.mark.parametrize("status", ["checked_out", "missing"])
def test_rule1_asset_unavailable(world, status):
    asset = h.asset(level="internal")
    if status == "checked_out":
        _checkout(world, asset, h.person())
    else:
        services.set_status(db.session, asset, "missing", actor=world["officer"])
    exc = _refused(lambda: _checkout(world, asset, world["borrower"]), "asset_unavailable")
    assert exc.status == 409 and exc.event_kind == "checkout_denied"


def test_rule1_destroyed_is_never_checked_out(world):
    asset = h.asset(level="internal")
    services.mark_destroyed(db.session, asset, actor=world["officer"], reference="D-1")
    exc = _refused(lambda: _checkout(world, asset, world["borrower"]), "asset_destroyed")
    assert exc.status == 409


def test_rule1_partial_unique_index_is_a_database_invariant(world):
    """Even bypassing the service, the database refuses a second open checkout of one asset."""
    asset = h.asset(level="internal")
    record = _checkout(world, asset, world["borrower"])
    db.session.commit()
    db.session.add(Checkout(asset_id=asset.id, borrower_id=world["general"].id, purpose="x",
                            out_at=record.out_at, due_at=record.due_at, note=""))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_rule1_conditional_update_loses_to_a_concurrent_change(world):
    """The state change is UPDATE … WHERE status='available': a stale in-memory status cannot win."""
    asset = h.asset(level="internal")
    db.session.commit()
    db.session.execute(sa.update(type(asset)).where(type(asset).id == asset.id).values(status=AssetStatus.CHECKED_OUT)
                       .execution_options(synchronize_session=False))
    asset.status = AssetStatus.AVAILABLE  # stale view: the rules pass, the UPDATE must not
    exc = _refused(lambda: _checkout(world, asset, world["borrower"]), "asset_unavailable")
    assert exc.details.get("race") is True


# ------------------------------------------------------------------ rule 2: active borrower

@pytest.mark.parametrize("status,extra", [("left", {}), ("decommissioning", {"decommission_until": date.today()})])
def test_rule2_borrower_inactive(world, status, extra):
    b, asset = h.person(status=status, **extra), h.asset(level="internal")
    _refused(lambda: _checkout(world, asset, b), "borrower_inactive")
    assert services.open_checkout(db.session, asset) is None


# ------------------------------------------------------------------ rule 3: clearance

@pytest.mark.parametrize("category,level,ok", [
    ("core", "top_secret", True), ("important", "top_secret", False), ("important", "secret", True),
    ("general", "secret", False), ("general", "confidential", True), ("none", "confidential", False),
    ("none", "internal", True), ("none", "unclassified", True),
])
def test_rule3_clearance(world, category, level, ok):
    b = h.person(category=category)
    asset = h.asset(level=level)
    if level in ("secret", "top_secret"):
        approve_checkout(world, asset, b)
    if ok:
        assert _checkout(world, asset, b).borrower_id == b.id
    else:
        exc = _refused(lambda: _checkout(world, asset, b), "clearance_insufficient")
        assert exc.details["level"] == level


# ------------------------------------------------------------------ rule 4: commitment letter

@pytest.mark.parametrize("signed,expires,level,ok", [
    (None, None, "confidential", False),                                        # never signed
    (-400, -1, "confidential", False),                                          # expired yesterday
    (-400, 0, "confidential", True),                                            # expires today: still valid
    (-10, None, "confidential", True),                                          # no expiry
    (None, None, "internal", True),                                             # not needed below confidential
])
def test_rule4_commitment(world, signed, expires, level, ok):
    from registry.people.services import unit_today

    today = unit_today()  # the rule's today is the unit's (Asia/Shanghai), not the machine's UTC date
    b = h.person(commitment_signed_on=today + timedelta(days=signed) if signed is not None else None,
                 commitment_expires_on=today + timedelta(days=expires) if expires is not None else None)
    asset = h.asset(level=level)
    if ok:
        assert _checkout(world, asset, b).borrower_id == b.id
    else:
        _refused(lambda: _checkout(world, asset, b), "commitment_missing")
        assert services.open_checkout(db.session, asset) is None


# ------------------------------------------------------------------ rule 5: need-to-know scope

@pytest.mark.parametrize("scope,ok", [
    ({}, True),
    ({"scope_departments": ["Lab 1"]}, True),
    ({"scope_departments": ["Lab 2"]}, False),
    ({"scope_person_ids": "self"}, True),
    ({"scope_person_ids": "other"}, False),
    ({"scope_departments": ["Lab 2"], "scope_person_ids": "self"}, True),
])
def test_rule5_scope(world, scope, ok):
    b = h.person(department="Lab 1")
    scope = dict(scope)
    if scope.get("scope_person_ids") == "self":
        scope["scope_person_ids"] = [b.id]
    elif scope.get("scope_person_ids") == "other":
        scope["scope_person_ids"] = [world["general"].id]
    asset = h.asset(level="confidential", **scope)
    if ok:
        assert _checkout(world, asset, b).borrower_id == b.id
    else:
        _refused(lambda: _checkout(world, asset, b), "not_in_scope")
        assert services.open_checkout(db.session, asset) is None


# ------------------------------------------------------------------ rule 6: approval for ≥ secret

def test_rule6_approval_required_then_consumed(world):
    asset, b = h.asset(level="secret"), world["borrower"]
    _refused(lambda: _checkout(world, asset, b), "approval_required")
    approval = approve_checkout(world, asset, b)
    record = _checkout(world, asset, b)
    assert record.approval_id == approval.id
    db.session.refresh(approval)
    assert approval.status == ApprovalStatus.USED and approval.used_for == f"checkouts#{record.id}"
    services.checkin(db.session, asset, actor=world["officer"], condition="intact")
    _refused(lambda: _checkout(world, asset, b), "approval_required")   # used once only


@pytest.mark.parametrize("case", ["other_borrower", "other_asset", "pending", "rejected", "decided_by_requester",
                                  "decided_by_borrower"])
def test_rule6_unusable_approvals(world, case):
    from registry.approvals import services as approvals
    from registry.approvals.models import Approval

    asset, b = h.asset(level="secret"), world["borrower"]
    subject_asset = h.asset(level="secret") if case == "other_asset" else asset
    subject_borrower = world["general"] if case == "other_borrower" else b
    ap = approvals.request_approval(db.session, kind="checkout", actor=world["officer"], purpose="x",
                                    asset_id=subject_asset.id, borrower_id=subject_borrower.id)
    if case == "rejected":
        approvals.decide(db.session, ap, decision="rejected", reason="no", actor=world["approver"])
    elif case != "pending":
        approvals.decide(db.session, ap, decision="approved", reason="", actor=world["approver"])
    if case == "decided_by_requester":  # only possible by tampering: the use re-checks independence
        db.session.execute(sa.update(Approval).where(Approval.id == ap.id).values(decided_by=ap.requested_by))
    if case == "decided_by_borrower":
        borrower_user = h.user("approver", person_id=b.id)
        db.session.execute(sa.update(Approval).where(Approval.id == ap.id).values(decided_by=borrower_user.id))
    db.session.expire_all()
    _refused(lambda: _checkout(world, asset, b), "approval_required")
    _refused(lambda: _checkout(world, asset, b, approval=ap), "approval_invalid")
    assert services.open_checkout(db.session, asset) is None
    db.session.refresh(ap)
    assert ap.used_at is None  # an approval that could not be used is not consumed


# ------------------------------------------------------------------ rule 7: foreign nationals

@pytest.mark.parametrize("level,ok", [("internal", True), ("unclassified", True), ("confidential", False),
                                      ("secret", False)])
def test_rule7_foreign_national(world, level, ok):
    foreigner = h.person(nationality="DE", category="core")
    asset = h.asset(level=level)
    if ok:
        assert _checkout(world, asset, foreigner).borrower_id == foreigner.id
    else:
        _refused(lambda: _checkout(world, asset, foreigner), "foreign_national")
        assert services.open_checkout(db.session, asset) is None


# ------------------------------------------------------------------ rule 8: due dates

NOW = datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc)  # 10:00 in Asia/Shanghai


@pytest.mark.parametrize("level,expected_local", [
    ("top_secret", "2026-03-10T23:59:59"), ("secret", "2026-03-13T23:59:59"),
    ("confidential", "2026-03-17T23:59:59"), ("internal", "2026-04-09T23:59:59"),
])
def test_rule8_default_due(world, level, expected_local):
    from zoneinfo import ZoneInfo

    b = h.person(category="core", commitment_signed_on=date(2026, 1, 1), commitment_expires_on=date(2027, 1, 1))
    asset = h.asset(level=level)
    if level in ("secret", "top_secret"):
        approve_checkout(world, asset, b)
    record = _checkout(world, asset, b, now=NOW)
    local = record.due_at.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None).isoformat()
    assert local == expected_local


@pytest.mark.parametrize("level,due,ok", [
    ("confidential", "2026-04-09", True),     # 30 days: the maximum
    ("confidential", "2026-04-10", False),
    ("top_secret", "2026-03-11", True),       # max 1 day
    ("top_secret", "2026-03-12", False),
    ("internal", "2026-06-08", True),
    ("internal", "2026-06-09", False),
])
def test_rule8_maximum(world, level, due, ok):
    b = h.person(category="core", commitment_signed_on=date(2026, 1, 1), commitment_expires_on=date(2027, 1, 1))
    asset = h.asset(level=level)
    if level == "top_secret":
        approve_checkout(world, asset, b)
    if ok:
        _checkout(world, asset, b, now=NOW, due_at=due)
    else:
        exc = _refused(lambda: _checkout(world, asset, b, now=NOW, due_at=due), "due_too_late")
        assert exc.status == 422


def test_rule8_due_in_the_past_and_configurable(world):
    asset = h.asset(level="confidential")
    with pytest.raises(ValidationFailed) as exc:
        _checkout(world, asset, world["borrower"], now=NOW, due_at="2026-03-09")
    assert "due_at" in exc.value.details
    update_settings(db.session, {"due_days_confidential": 1, "max_days_confidential": 2}, actor=None)
    record = _checkout(world, asset, world["borrower"], now=NOW)
    assert record.due_at == datetime(2026, 3, 11, 15, 59, 59, tzinfo=timezone.utc)
    services.checkin(db.session, asset, actor=None, condition="intact")
    _refused(lambda: _checkout(world, asset, world["borrower"], now=NOW, due_at="2026-03-13"), "due_too_late")


# ------------------------------------------------------------------ rule 9: self-service

@pytest.mark.parametrize("case,ok", [
    ("own_confidential", True), ("own_internal", True), ("own_secret", False), ("someone_else", False),
    ("disabled", False),
])
def test_rule9_self_checkout(world, case, ok):
    staff, me = world["staff"], world["general"]           # general: confidential clearance
    level = {"own_secret": "secret", "own_internal": "internal"}.get(case, "confidential")
    asset = h.asset(level=level)
    borrower = world["borrower"] if case == "someone_else" else me
    if case == "disabled":
        update_settings(db.session, {"staff_self_checkout": False}, actor=None)
    if ok:
        record = _checkout(world, asset, borrower, actor=staff)
        assert record.self_service and record.handled_by == staff.id
    else:
        _refused(lambda: _checkout(world, asset, borrower, actor=staff), "self_checkout_not_allowed")


@pytest.mark.parametrize("role", ["approver", "inspector", "guard"])
def test_rule9_other_roles_cannot_check_out(world, role):
    with pytest.raises(Forbidden):
        _checkout(world, h.asset(level="internal"), world["borrower"], actor=h.user(role))


# ------------------------------------------------------------------ rule 10: connected computer

@pytest.mark.parametrize("device_level,ok", [("confidential", False), ("secret", True), ("top_secret", True)])
def test_rule10_device_level(world, device_level, ok):
    storage = h.asset(kind="storage", level="secret")
    computer = h.asset(kind="computer", level=device_level)
    approve_checkout(world, storage, world["borrower"])
    if ok:
        assert _checkout(world, storage, world["borrower"], device=computer).device_id == computer.id
    else:
        exc = _refused(lambda: _checkout(world, storage, world["borrower"], device=computer), "device_level_too_low")
        assert exc.details["device"] == computer.registry_no


@pytest.mark.parametrize("asset_kind,device_kind", [("media", "computer"), ("storage", "storage")])
def test_rule10_device_must_be_a_computer_for_storage(world, asset_kind, device_kind):
    asset = h.asset(kind=asset_kind, level="internal")
    device = h.asset(kind=device_kind, level="secret")
    with pytest.raises(ValidationFailed) as exc:
        _checkout(world, asset, world["borrower"], device=device)
    assert "device_id" in exc.value.details


# ------------------------------------------------------------------ checkin

def test_checkin_only_checked_out(world):
    asset = h.asset(level="internal")
    exc = _refused(lambda: services.checkin(db.session, asset, actor=world["officer"], condition="intact"),
                   "not_checked_out")
    assert exc.event_kind == "checkin_denied" and exc.status == 409


@pytest.mark.parametrize("role", ["staff", "approver"])
def test_checkin_received_by_an_officer(world, role):
    asset = h.asset(level="internal")
    _checkout(world, asset, world["borrower"])
    with pytest.raises(Forbidden):
        services.checkin(db.session, asset, actor=h.user(role), condition="intact")


@pytest.mark.parametrize("condition,discrepancy", [("intact", False), ("damaged", True), ("seal_broken", True),
                                                   ("incomplete", True)])
def test_checkin_condition_and_discrepancy(world, condition, discrepancy):
    from registry.core.security_events import SecurityEvent

    asset = h.asset(level="internal")
    _checkout(world, asset, world["borrower"])
    record = services.checkin(db.session, asset, actor=world["officer"], condition=condition, note="n")
    db.session.refresh(asset)
    assert asset.status == AssetStatus.AVAILABLE and record.returned_at is not None
    assert record.received_by == world["officer"].id and record.condition.value == condition
    events = db.session.scalars(sa.select(SecurityEvent).where(SecurityEvent.kind == "return_discrepancy")).all()
    assert (len(events) == 1) is discrepancy
    if discrepancy:
        assert events[0].reason == condition and events[0].subject_id == asset.id


# ------------------------------------------------------------------ edits: downgrade, destroyed, placement

@pytest.mark.parametrize("kind,ok", [("computer", False), ("storage", False), ("media", True), ("equipment", True)])
def test_downgrade_refused_for_computers_and_storage(world, kind, ok):
    asset = h.asset(kind=kind, level="secret")
    if ok:
        assert services.update_asset(db.session, asset, {"level": "confidential"}, actor=world["officer"])
    else:
        _refused(lambda: services.update_asset(db.session, asset, {"level": "confidential"}, actor=world["officer"]),
                 "downgrade_refused")
        assert services.update_asset(db.session, asset, {"level": "top_secret"}, actor=world["officer"])


@pytest.mark.parametrize("action", ["edit", "label", "inspection", "status"])
def test_destroyed_items_are_never_edited(world, action):
    asset = h.asset(kind="equipment", level="internal")
    services.mark_destroyed(db.session, asset, actor=world["officer"])
    officer = world["officer"]
    fn = {"edit": lambda: services.update_asset(db.session, asset, {"title": "x"}, actor=officer),
          "label": lambda: services.reissue_label(db.session, asset, actor=officer),
          "inspection": lambda: services.add_inspection(db.session, asset, {"date": date.today(), "inspector": "x",
                                                                            "result": "passed"}, actor=officer),
          "status": lambda: services.set_status(db.session, asset, "missing", actor=officer)}[action]
    label = asset.label_code
    _refused(fn, "asset_destroyed")
    db.session.refresh(asset)
    assert asset.status.value == "destroyed" and asset.label_code == label and asset.title != "x"


def test_destroy_refused_while_checked_out(world):
    asset = h.asset(level="internal")
    _checkout(world, asset, world["borrower"])
    _refused(lambda: services.mark_destroyed(db.session, asset, actor=world["officer"]), "asset_unavailable")
    db.session.expire_all()
    assert asset.status == AssetStatus.CHECKED_OUT        # the refusal changed nothing


@pytest.mark.parametrize("room_level,inspection,ok", [
    ("confidential", None, False), ("secret", None, False), ("top_secret", "failed", False),
    ("secret", "passed", True), ("internal", None, True), ("unclassified", None, True),
])
def test_inspection_required_on_placement(world, room_level, inspection, ok):
    room = h.room(level=room_level)
    asset = h.asset(kind="equipment", level="internal", foreign_supplied=True)
    if inspection:
        services.add_inspection(db.session, asset, {"date": date.today(), "inspector": "Lab", "result": inspection},
                                actor=world["officer"])
    fn = lambda: services.update_asset(db.session, asset, {"room_id": room.id}, actor=world["officer"])  # noqa: E731
    if ok:
        fn()
        assert asset.room_id == room.id
    else:
        _refused(fn, "inspection_required")


def test_inspection_required_at_registration_and_when_flagged(world):
    room = world["room_secret"]
    _refused(lambda: h.asset(kind="equipment", level="internal", foreign_supplied=True, room_id=room.id),
             "inspection_required")
    db.session.rollback()
    domestic = h.asset(kind="equipment", level="internal", room_id=room.id)
    _refused(lambda: services.update_asset(db.session, domestic, {"foreign_supplied": True}, actor=world["officer"]),
             "inspection_required")
    db.session.rollback()
    assert domestic.foreign_supplied is False and domestic.room_id == room.id   # nothing was changed


# ------------------------------------------------------------------ holdings (清退)

def test_people_cannot_leave_while_holding_items(world):
    from registry.people import services as people

    b = h.person(category="important")
    asset = h.asset(level="confidential")
    _checkout(world, asset, b)
    _refused(lambda: people.update_person(db.session, b, {"status": "left"}, actor=None, home_country="CN"),
             "holds_items")
    _refused(lambda: people.update_person(db.session, b, {"category": "none"}, actor=None, home_country="CN"),
             "holds_items")
    people.update_person(db.session, b, {"category": "general"}, actor=None, home_country="CN")  # still cleared
    assert [a.registry_no for a in services.held_assets(db.session, b)] == [asset.registry_no]
    services.checkin(db.session, asset, actor=world["officer"], condition="intact")
    people.update_person(db.session, b, {"status": "left"}, actor=None, home_country="CN")


# ------------------------------------------------------------------ need-to-know visibility

@pytest.mark.parametrize("case,visible", [
    ("no_scope_cleared", True), ("no_scope_above_clearance", False), ("scope_department", True),
    ("scope_other_department", False), ("scope_person", True), ("custodian", True), ("holder", True),
])
def test_can_view_asset_for_staff(world, case, visible):
    staff, me = world["staff"], world["general"]
    kw = {"level": "confidential"}
    if case == "no_scope_above_clearance":
        kw["level"] = "secret"
    elif case == "scope_department":
        kw["scope_departments"] = [me.department]
    elif case == "scope_other_department":
        kw["scope_departments"] = ["Elsewhere"]
    elif case == "scope_person":
        kw.update(scope_departments=["Elsewhere"], scope_person_ids=[me.id])
    elif case == "custodian":
        kw.update(level="top_secret", scope_departments=["Elsewhere"], custodian_id=me.id)
    asset = h.asset(**kw)
    if case == "holder":
        asset = h.asset(level="internal")
        _checkout(world, asset, me)
        services.update_asset(db.session, asset, {"scope_departments": ["Elsewhere"]}, actor=world["officer"])
    assert rules.can_view_asset(staff, asset) is visible
    listed = db.session.scalars(services.assets_query(staff)).all()
    assert (asset in listed) is visible


@pytest.mark.parametrize("role,visible", [("officer", True), ("approver", True), ("inspector", True),
                                          ("guard", False), ("admin", True)])
def test_can_view_asset_by_role(world, role, visible):
    asset = h.asset(level="top_secret", scope_departments=["Elsewhere"])
    assert rules.can_view_asset(h.user(role), asset) is visible
