"""Custody rules (SPEC §4): who may see an item, and every checkout, checkin, edit and placement rule.

Pure decisions over loaded objects: `checkout_refusal` answers the first rule that refuses
(a RuleViolation, not raised) so that the batch desk can list the reason of each refused item;
`check_*` functions raise. Services call these; pages, API and CLI never re-implement them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import object_session

from registry.assets.models import Asset, AssetKind, AssetScope, AssetStatus, Checkout, InspectionResult
from registry.core.errors import Forbidden, NotFound, NotVisible, RuleViolation, ValidationFailed, violation
from registry.core.models import Level

FULL_READ_ROLES = ("officer", "approver", "inspector")  # + admin
DESK_ROLES = ("officer",)
CHECKOUT_ROLES = ("officer", "staff")
SELF_SERVICE_MAX = Level.CONFIDENTIAL
APPROVAL_FROM = Level.SECRET
COMMITMENT_FROM = Level.CONFIDENTIAL
NEVER_DOWNGRADED = (AssetKind.COMPUTER, AssetKind.STORAGE)


def levels_up_to(level: Level) -> list[Level]:
    return [lv for lv in Level if lv <= level]


def levels_above(level: Level) -> list[Level]:
    return [lv for lv in Level if lv > level]


# ------------------------------------------------------------------ need-to-know

def in_scope(person, asset: Asset) -> bool:
    """Inside the item's need-to-know scope (知悉范围): no scope means anyone cleared."""
    if not asset.scope_entries:
        return True
    return any((e.person_id is not None and e.person_id == person.id) or
               (e.department and e.department == person.department) for e in asset.scope_entries)


def holder_id(asset: Asset) -> int | None:
    session = object_session(asset)
    if session is None or asset.id is None:
        return None
    return session.scalar(sa.select(Checkout.borrower_id).where(Checkout.asset_id == asset.id,
                                                                Checkout.returned_at.is_(None)))


def can_view_asset(user, asset: Asset, home_country: str = "CN") -> bool:
    """Officers, approvers, inspectors (and admin) read every register. Staff see an item they are
    custodian or holder of, or one within their clearance and need-to-know scope. Guards: nothing."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.has_role(*FULL_READ_ROLES):
        return True
    if user.role.value != "staff" or user.person is None:
        return False
    person = user.person
    if asset.custodian_id == person.id or holder_id(asset) == person.id:
        return True
    return person.clearance(home_country) >= asset.level and in_scope(person, asset)


def visible_filter(user, home_country: str = "CN"):
    """The SQL twin of can_view_asset for list queries (None = everything)."""
    if user.has_role(*FULL_READ_ROLES):
        return None
    if user.role.value != "staff" or user.person is None:
        return sa.false()
    person = user.person
    no_scope = ~sa.exists().where(AssetScope.asset_id == Asset.id)
    scoped = sa.exists().where(AssetScope.asset_id == Asset.id, sa.or_(
        AssetScope.person_id == person.id,
        sa.and_(AssetScope.department.is_not(None), AssetScope.department == person.department)))
    holds = sa.exists().where(Checkout.asset_id == Asset.id, Checkout.returned_at.is_(None),
                              Checkout.borrower_id == person.id)
    cleared = Asset.level.in_(levels_up_to(person.clearance(home_country)))
    return sa.or_(Asset.custodian_id == person.id, holds, sa.and_(cleared, sa.or_(no_scope, scoped)))


def can_view_checkout(user, checkout: Checkout | None) -> bool:
    """Officers, approvers, inspectors (and admin) see every loan; staff only their own (SPEC §1):
    who holds an item they may see, and until when, is another person's checkout."""
    if checkout is None or user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.has_role(*FULL_READ_ROLES):
        return True
    return user.role.value == "staff" and user.person_id is not None and checkout.borrower_id == user.person_id


def visible_asset(session, user, asset_id: int, home_country: str = "CN") -> Asset:
    """The item `user` may see: NotFound for an unknown id, NotVisible (answered alike, but
    recorded as an access denial) for an item outside the user's need-to-know."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound()
    if not can_view_asset(user, asset, home_country):
        raise NotVisible(asset)
    return asset


def can_manage(user) -> bool:
    return user is None or user.has_role(*DESK_ROLES)


# ------------------------------------------------------------------ due dates (rule 8)

def unit_zone(settings: dict):
    try:
        return ZoneInfo(settings.get("timezone") or "UTC")
    except Exception:  # an unknown zone name must not break checkouts
        return timezone.utc


def end_of_local_day(day: date, zone) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=zone).astimezone(timezone.utc)


def local_today(now: datetime, settings: dict) -> date:
    return now.astimezone(unit_zone(settings)).date()


def default_due(level: Level, now: datetime, settings: dict) -> datetime:
    """End of the unit's local day, `due_days_<level>` days from today (0 = today)."""
    days = int(settings.get(f"due_days_{Level(level).value}") or 0)
    return end_of_local_day(local_today(now, settings) + timedelta(days=max(days, 0)), unit_zone(settings))


def max_due(level: Level, now: datetime, settings: dict) -> datetime:
    days = int(settings.get(f"max_days_{Level(level).value}") or 0)
    return end_of_local_day(local_today(now, settings) + timedelta(days=max(days, 0)), unit_zone(settings))


def parse_due(value, settings: dict) -> datetime | None:
    """A due date from a form or JSON: a date (end of that local day) or an aware date-time."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=unit_zone(settings)).astimezone(timezone.utc)
    if isinstance(value, date):
        return end_of_local_day(value, unit_zone(settings))
    text = str(value).strip()
    try:
        if len(text) == 10:
            return end_of_local_day(date.fromisoformat(text), unit_zone(settings))
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(details={"due_at": [_l("Use an ISO 8601 date or date-time.")]}) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=unit_zone(settings))
    return parsed.astimezone(timezone.utc)


# ------------------------------------------------------------------ checkout (rules 1–10)

@dataclass
class CheckoutDecision:
    """The outcome of evaluating a checkout: a refusal, or the approval to consume and the due date."""

    refusal: RuleViolation | None = None
    approval: object | None = None
    due_at: datetime | None = None
    self_service: bool = False
    notes: list = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.refusal is None


def _deny(code, asset, message=None, **details) -> RuleViolation:
    return violation(code, message, kind="checkout_denied", subject=asset, **details)


def is_self_service(actor) -> bool:
    """A checkout is self-service when the actor is not desk staff (an officer or admin)."""
    return actor is not None and not actor.has_role(*DESK_ROLES)


def checkout_refusal(session, asset: Asset, borrower, *, actor, settings: dict, now: datetime,
                     due_at: datetime | None = None, approval=None, device: Asset | None = None) -> CheckoutDecision:
    """Evaluate SPEC §4 rules 1–10 in order; the first that fails names the refusal.

    Order: destroyed, available (1), self-service (9), active (2), foreign national (7), clearance (3),
    commitment letter (4), need-to-know (5), connected device (10), approval (6), due date (8).
    """
    from registry.approvals import services as approvals

    home = settings.get("home_country") or "CN"
    level = Level(asset.level)
    decision = CheckoutDecision(self_service=is_self_service(actor))
    if actor is not None and not actor.has_role(*CHECKOUT_ROLES):
        raise Forbidden()
    if asset.status == AssetStatus.DESTROYED:
        decision.refusal = _deny("asset_destroyed", asset)
        return decision
    if asset.status != AssetStatus.AVAILABLE:
        decision.refusal = _deny("asset_unavailable", asset, status=asset.status.value)
        return decision
    if decision.self_service:
        own = actor.person_id is not None and borrower.id == actor.person_id
        if not settings.get("staff_self_checkout") or not own or level > SELF_SERVICE_MAX:
            decision.refusal = _deny("self_checkout_not_allowed", asset, enabled=bool(settings.get("staff_self_checkout")),
                                     own=own, level=level.value)
            return decision
    if not borrower.is_active:
        decision.refusal = _deny("borrower_inactive", asset, borrower=borrower.employee_no,
                                 status=str(borrower.status))
        return decision
    if borrower.is_foreign(home) and level > Level.INTERNAL:
        decision.refusal = _deny("foreign_national", asset, borrower=borrower.employee_no,
                                 nationality=borrower.nationality)
        return decision
    clearance = borrower.clearance(home)
    if clearance < level:
        decision.refusal = _deny("clearance_insufficient", asset, borrower=borrower.employee_no,
                                 clearance=clearance.value, level=level.value)
        return decision
    if level >= COMMITMENT_FROM and not borrower.commitment_valid(local_today(now, settings)):
        decision.refusal = _deny("commitment_missing", asset, borrower=borrower.employee_no,
                                 expires_on=borrower.commitment_expires_on)
        return decision
    if not in_scope(borrower, asset):
        decision.refusal = _deny("not_in_scope", asset, borrower=borrower.employee_no)
        return decision
    if device is not None:
        if asset.kind != AssetKind.STORAGE:
            raise ValidationFailed(details={"device_id": [_l("Only removable storage names a connected computer.")]})
        if device.kind != AssetKind.COMPUTER or device.status == AssetStatus.DESTROYED or device.id == asset.id:
            raise ValidationFailed(details={"device_id": [_l("Name a registered classified computer.")]})
        if Level(device.level) < level:
            decision.refusal = _deny("device_level_too_low", asset, device=device.registry_no,
                                     device_level=device.level.value, level=level.value)
            return decision
    if level >= APPROVAL_FROM or approval is not None:
        from registry.approvals import rules as approval_rules

        subject = {"asset_id": asset.id, "borrower_id": borrower.id}
        if approval is None:
            approval = approvals.find_usable(session, "checkout", **subject)
            if approval is None:
                decision.refusal = _deny("approval_required", asset, borrower=borrower.employee_no)
                return decision
        elif not approval_rules.usable(session, approval, "checkout", subject):
            decision.refusal = _deny("approval_invalid", asset, approval_id=approval.id)
            return decision
        decision.approval = approval
    limit = max_due(level, now, settings)
    due = due_at or default_due(level, now, settings)
    if due <= now:
        raise ValidationFailed(details={"due_at": [_l("The due date must be in the future.")]})
    if due > limit:
        decision.refusal = _deny("due_too_late", asset, due_at=due, max_due_at=limit, level=level.value)
        return decision
    decision.due_at = due
    return decision


def check_checkout(session, asset, borrower, **kw) -> CheckoutDecision:
    """Raise the first refusal of checkout_refusal; return the decision otherwise."""
    decision = checkout_refusal(session, asset, borrower, **kw)
    if decision.refusal is not None:
        raise decision.refusal
    return decision


# ------------------------------------------------------------------ checkin

def check_checkin(actor, asset: Asset, open_checkout) -> None:
    """Only an officer (or the console) receives a return, and only of a checked-out item."""
    if actor is not None and not actor.has_role(*DESK_ROLES):
        raise Forbidden()
    if open_checkout is None or asset.status != AssetStatus.CHECKED_OUT:
        raise violation("not_checked_out", kind="checkin_denied", subject=asset, status=asset.status.value)


# ------------------------------------------------------------------ edits, placement, copies

def check_editable(asset: Asset) -> None:
    if asset.status == AssetStatus.DESTROYED:
        raise violation("asset_destroyed", kind="asset_change_denied", subject=asset)


def check_level_change(asset: Asset, new_level) -> None:
    """The level of a computer or removable storage is never lowered (最高密级 ever stored on it)."""
    if asset.kind in NEVER_DOWNGRADED and Level(new_level) < Level(asset.level):
        raise violation("downgrade_refused", kind="asset_change_denied", subject=asset,
                        level=Level(asset.level).value, requested=Level(new_level).value)


def has_passed_inspection(asset: Asset) -> bool:
    return any(i.result == InspectionResult.PASSED for i in asset.inspections)


def check_placement(asset: Asset | None, room, foreign_supplied: bool) -> None:
    """Foreign-supplied equipment enters a room of level ≥ confidential only after an inspection passed
    (`asset` None: an item being registered, which has none yet)."""
    if room is None or not foreign_supplied:
        return
    if Level(room.level) >= Level.CONFIDENTIAL and not (asset is not None and has_passed_inspection(asset)):
        raise violation("inspection_required", kind="asset_change_denied",
                        subject=asset if asset is not None and asset.id else None,
                        room=room.code, room_level=Level(room.level).value)


def copy_needs_approval(asset: Asset) -> bool:
    return Level(asset.level) >= Level.CONFIDENTIAL
