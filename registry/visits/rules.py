"""Room entry and area-permission rules (SPEC §4), and who may see a visitor's document number.

Pure predicates over loaded objects: the services gather the facts (the covering permission,
the open visit, the escort's group) and call these; pages use them to show state. Every rule
lives here once; pages, the JSON API and the CLI reach it only through visits.services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from registry.areas.models import ForeignPolicy
from registry.core.models import Level

# The order of SPEC §4: the first failing check names the refusal.
ENTRY_REASONS = (
    "visitor_blocked",
    "already_inside",
    "outside_visit_window",
    "room_forbidden_for_foreigners",
    "no_permission",
    "escort_required",
    "escort_not_eligible",
    "escort_group_full",
)

# Roles that see identity-document numbers in full (SPEC §3: personal data).
ID_DOC_ROLES = ("officer",)  # admin passes every role check


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)


def deny(reason: str) -> Decision:
    return Decision(False, reason)


# ---------------------------------------------------------------- personal data

def can_see_id_doc(user) -> bool:
    """Officers and administrators see document numbers in full; nobody else (nor the CLI)."""
    return user is not None and getattr(user, "is_authenticated", False) and user.has_role(*ID_DOC_ROLES)


def mask_id_doc(value: str | None, user) -> str:
    """The document number as `user` may see it: in full for officer/admin, otherwise only the
    last 4 characters ("****1234"). Short numbers are masked entirely. Use everywhere a
    document number leaves the database (pages, API, exports)."""
    value = value or ""
    if can_see_id_doc(user):
        return value
    if len(value) <= 4:
        return "****" if value else ""
    return "****" + value[-4:]


# ---------------------------------------------------------------- time

def local_date(at: datetime, tz_name: str | None) -> date:
    """The calendar date of `at` in the unit's time zone (visit windows are local dates)."""
    try:
        zone = ZoneInfo(tz_name or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).date()


# ---------------------------------------------------------------- single facts

def in_visit_window(visitor, today: date) -> bool:
    """Today lies within the expected arrival and departure dates (a missing bound is open)."""
    if visitor.arrives_on and today < visitor.arrives_on:
        return False
    if visitor.departs_on and today > visitor.departs_on:
        return False
    return True


def needs_permission(room) -> bool:
    """`forbidden` and `escorted` rooms need a permission for every visitor; `open` rooms none."""
    return ForeignPolicy(room.foreign_policy) != ForeignPolicy.OPEN


def needs_escort(room, permission) -> bool:
    """The room (forbidden/escorted) or the visitor's permission asks for an escort."""
    return needs_permission(room) or bool(permission is not None and permission.escort_required)


def forbidden_for(visitor, room, home_country: str) -> bool:
    return ForeignPolicy(room.foreign_policy) == ForeignPolicy.FORBIDDEN and visitor.is_foreign(home_country)


def escort_eligible(person, room, home_country: str) -> bool:
    """An escort is an active, non-foreign Person whose clearance is at least the room's level."""
    return (person is not None and person.is_active and not person.is_foreign(home_country)
            and person.clearance(home_country) >= Level(room.level))


def escort_group_full(room, escort_group_size: int) -> bool:
    """The escort already accompanies the room's maximum number of visitors inside it."""
    return escort_group_size >= int(room.max_visitors_per_escort or 5)


# ---------------------------------------------------------------- the entry decision

def entry_decision(*, visitor, room, permission, escort, inside: bool, escort_group_size: int, today: date,
                   home_country: str) -> Decision:
    """May `visitor` enter `room` now? Checks SPEC §4 in its order; the first failure names the refusal.

    permission: the visitor's unrevoked permission for this room covering now (or None);
    escort: the Person given as escort (or None); inside: the visitor has an open visit;
    escort_group_size: open visits with this escort in this room.
    """
    if visitor.blocked:
        return deny("visitor_blocked")
    if inside:
        return deny("already_inside")
    if not in_visit_window(visitor, today):
        return deny("outside_visit_window")
    if forbidden_for(visitor, room, home_country):
        return deny("room_forbidden_for_foreigners")
    if needs_permission(room) and permission is None:
        return deny("no_permission")
    if needs_escort(room, permission) and escort is None:
        return deny("escort_required")
    if escort is not None:
        if not escort_eligible(escort, room, home_country):
            return deny("escort_not_eligible")
        if escort_group_full(room, escort_group_size):
            return deny("escort_group_full")
    return ALLOW


# ---------------------------------------------------------------- area permissions

def needs_approval(visitor, room, home_country: str) -> bool:
    """A foreign visitor's permission to a room of level ≥ confidential needs an approved
    area-permission approval (SPEC §4)."""
    return visitor.is_foreign(home_country) and Level(room.level) >= Level.CONFIDENTIAL


def permission_decision(*, visitor, room, home_country: str, approval_ok: bool) -> Decision:
    """May `visitor` be given a permission for `room`? approval_ok: a usable approval exists
    (only asked when needs_approval)."""
    if visitor.blocked:
        return deny("visitor_blocked")
    if forbidden_for(visitor, room, home_country):
        return deny("room_forbidden_for_foreigners")
    if visitor.project is not None and not visitor.project.review_passed:
        return deny("project_review_pending")
    if needs_approval(visitor, room, home_country) and not approval_ok:
        return deny("approval_required")
    return ALLOW


# ---------------------------------------------------------------- inside-now flags

def visit_flags(visit, *, now: datetime, today: date) -> list[str]:
    """Warnings for a visitor who is inside: blocked since entry, window over, permission lapsed."""
    flags = []
    if visit.visitor.blocked:
        flags.append("blocked")
    if visit.visitor.departs_on and today > visit.visitor.departs_on:
        flags.append("window_over")
    if visit.permission is not None and not visit.permission.covers(now):
        flags.append("permission_lapsed")
    return flags
