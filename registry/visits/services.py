"""Visitor, area-permission and entry/exit commands and queries (SPEC §3, §4).

Commands re-check the rules of visits.rules, change the records, append the audit event and
flush; they never commit and never touch the request. `actor` (a User or None) and `now` are
parameters. Refusals are RuleViolations with the reason codes of SPEC §6 (security-event kind
`entry_denied` for entries, `exit_denied` for exits, `permission_denied` for permissions);
the entry point records them.

Public queries for other domains (exports, dashboard): visitors_query, permissions_query,
visits_query, inside_now, occupants, expected_on, and the serializers. Every document number
that leaves this module goes through rules.mask_id_doc (re-exported here).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from registry.areas.models import Room
from registry.cooperation.models import CooperationProject
from registry.core import audit
from registry.core.errors import NotFound, ValidationFailed, violation
from registry.core.labels import Label, extract_code, find_label, issue_label
from registry.core.models import utcnow
from registry.core.query import like_pattern, order_by, search
from registry.core.settings import get_settings
from registry.people.models import Person
from registry.visits import rules
from registry.visits.forms import normalise_doc_no
from registry.visits.models import AreaPermission, IdDocType, Visit, Visitor
from registry.visits.rules import mask_id_doc  # noqa: F401  (public: the one masking function)

VISITOR_FIELDS = ("name", "name_alt", "nationality", "id_doc_type", "id_doc_no", "organization", "position",
                  "purpose", "host_id", "project_id", "arrives_on", "departs_on", "blocked", "blocked_reason", "notes")
_TEXT = ("name_alt", "organization", "position", "purpose", "blocked_reason", "notes")


def site() -> tuple[str, str]:
    """(home country, unit time zone) from the settings."""
    s = get_settings()
    return (s["home_country"] or "CN").upper(), s["timezone"] or "UTC"


def actor_name(actor) -> str:
    return (getattr(actor, "username", "") or "")[:64]


# ================================================================ visitors

def visitor_snapshot(v: Visitor) -> dict:
    """The visitor's fields for the audit trail; the document number masked (the trail is
    append-only and read by inspectors, so it never holds the full number)."""
    data = {f: getattr(v, f) for f in VISITOR_FIELDS}
    data["id_doc_no"] = mask_id_doc(v.id_doc_no, None)
    return data


def _check_visitor(session, data: dict, exclude_id: int | None = None) -> None:
    errors: dict[str, list] = {}
    if data.get("id_doc_no"):
        stmt = sa.select(Visitor.id).where(Visitor.id_doc_type == IdDocType(data["id_doc_type"]),
                                           Visitor.id_doc_no == data["id_doc_no"])
        if exclude_id:
            stmt = stmt.where(Visitor.id != exclude_id)
        if session.scalar(stmt):
            errors["id_doc_no"] = [_l("A visitor with this document is already registered.")]
    if data.get("host_id") is not None and session.get(Person, data["host_id"]) is None:
        errors["host_id"] = [_l("Unknown person.")]
    if data.get("project_id") is not None and session.get(CooperationProject, data["project_id"]) is None:
        errors["project_id"] = [_l("Unknown cooperation project.")]
    if errors:
        raise ValidationFailed(details=errors)


def _clean(data: dict) -> dict:
    data = {k: v for k, v in data.items() if k in VISITOR_FIELDS}
    if "id_doc_no" in data:
        data["id_doc_no"] = normalise_doc_no(data["id_doc_no"])
    if "nationality" in data and data["nationality"]:
        data["nationality"] = data["nationality"].upper()
    for f in _TEXT:
        if f in data and data[f] is None:
            data[f] = ""
    if "blocked" in data:
        data["blocked"] = bool(data["blocked"])
        if not data["blocked"]:
            data["blocked_reason"] = ""
    return data


def create_visitor(session, data: dict, *, actor, now: datetime | None = None) -> Visitor:
    """Register a visitor (data from a validated VisitorForm) and issue the badge code."""
    data = _clean(data)
    _check_visitor(session, data)
    visitor = Visitor(**data)
    visitor.id_doc_type = IdDocType(data.get("id_doc_type") or "passport")
    if visitor.blocked:
        visitor.blocked_at, visitor.blocked_by = now or utcnow(), actor_name(actor)
    session.add(visitor)
    session.flush()
    issue_label(session, "visitor", visitor, actor=actor)
    audit.record(session, actor=actor, action="visitor.create", entity=visitor,
                 data={"after": visitor_snapshot(visitor)})
    return visitor


def update_visitor(session, visitor: Visitor, data: dict, *, actor, now: datetime | None = None) -> dict:
    """Edit a visitor. Putting a visitor on or off the block list is audited as its own action
    (visitor.block / visitor.unblock). Returns the changed fields (document number masked)."""
    data = _clean(data)
    merged_doc = {"id_doc_type": data.get("id_doc_type", visitor.id_doc_type.value),
                  "id_doc_no": data.get("id_doc_no", visitor.id_doc_no)}
    _check_visitor(session, {**data, **merged_doc}, exclude_id=visitor.id)
    before = visitor_snapshot(visitor)
    doc_before = (visitor.id_doc_type, visitor.id_doc_no)
    was_blocked = visitor.blocked
    for f, value in data.items():
        setattr(visitor, f, IdDocType(value) if f == "id_doc_type" else value)
    if visitor.blocked and not was_blocked:
        visitor.blocked_at, visitor.blocked_by = now or utcnow(), actor_name(actor)
    elif was_blocked and not visitor.blocked:
        visitor.blocked_at, visitor.blocked_by = None, ""
    after = visitor_snapshot(visitor)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if (visitor.id_doc_type, visitor.id_doc_no) != doc_before:  # masked values may look alike
        changed["id_doc_no"] = after["id_doc_no"]
    if changed:
        session.flush()
        if "blocked" in changed:
            action = "visitor.block" if visitor.blocked else "visitor.unblock"
        else:
            action = "visitor.update"
        audit.record(session, actor=actor, action=action, entity=visitor,
                     data={"before": {k: before[k] for k in changed}, "after": changed})
    return changed


def block_visitor(session, visitor: Visitor, reason: str, *, actor, now: datetime | None = None) -> dict:
    """Put a visitor on the block list (entry and new permissions are refused: visitor_blocked)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(details={"reason": [_l("Give the reason for blocking this visitor.")]})
    return update_visitor(session, visitor, {"blocked": True, "blocked_reason": reason[:500]}, actor=actor, now=now)


def unblock_visitor(session, visitor: Visitor, *, actor) -> dict:
    """Take a visitor off the block list."""
    return update_visitor(session, visitor, {"blocked": False}, actor=actor)


def reissue_badge(session, visitor: Visitor, *, actor, reason: str = "lost") -> Label:
    """Issue a new badge code (lost or damaged badge); the old code is revoked and refused when scanned."""
    old = visitor.badge_code
    label = issue_label(session, "visitor", visitor, actor=actor, reason=reason)
    audit.record(session, actor=actor, action="visitor.badge_reissue", entity=visitor,
                 data={"reason": reason, "old_code_suffix": (old or "")[-4:]})
    return label


def get_visitor(session, visitor_id: int) -> Visitor:
    visitor = session.get(Visitor, visitor_id)
    if visitor is None:
        raise NotFound()
    return visitor


VISITOR_SORTS = {"name": Visitor.name, "organization": Visitor.organization, "nationality": Visitor.nationality,
                 "arrives_on": Visitor.arrives_on, "departs_on": Visitor.departs_on, "id": Visitor.id,
                 "created_at": Visitor.created_at}


def visitors_query(*, q: str | None = None, foreign: bool | None = None, blocked: bool | None = None,
                   project_id: int | None = None, host_id: int | None = None, inside: bool | None = None,
                   expected_on: date | None = None, home_country: str | None = None, sort: str | None = None):
    """SELECT of visitors for lists and exports. q searches name, second-script name and
    organisation; a document number matches only exactly."""
    stmt = sa.select(Visitor)
    if q and q.strip():
        cond = search([Visitor.name, Visitor.name_alt, Visitor.organization], q)
        stmt = stmt.where(sa.or_(cond, Visitor.id_doc_no == normalise_doc_no(q)[:40]))
    if foreign is not None:
        home = (home_country or site()[0]).upper()
        stmt = stmt.where(Visitor.nationality != home if foreign else Visitor.nationality == home)
    if blocked is not None:
        stmt = stmt.where(Visitor.blocked.is_(blocked))
    if project_id:
        stmt = stmt.where(Visitor.project_id == project_id)
    if host_id:
        stmt = stmt.where(Visitor.host_id == host_id)
    if inside is not None:
        open_ids = sa.select(Visit.visitor_id).where(Visit.exited_at.is_(None))
        stmt = stmt.where(Visitor.id.in_(open_ids) if inside else Visitor.id.not_in(open_ids))
    if expected_on:
        stmt = stmt.where(sa.or_(Visitor.arrives_on.is_(None), Visitor.arrives_on <= expected_on),
                          sa.or_(Visitor.departs_on.is_(None), Visitor.departs_on >= expected_on))
    return order_by(stmt, sort, VISITOR_SORTS, "name")


def expected_on(session, day: date, limit: int = 50) -> list[Visitor]:
    """Unblocked visitors whose expected window includes `day` and who are not inside now."""
    stmt = visitors_query(expected_on=day, blocked=False, inside=False).where(
        sa.or_(Visitor.arrives_on.is_not(None), Visitor.departs_on.is_not(None)))
    return list(session.scalars(stmt.limit(limit)))


def find_visitors(session, text: str, *, base_url: str) -> tuple[Visitor | None, Label | None, list[Visitor]]:
    """What the guard scanned or typed: a badge URL or code, a document number, a visitor id
    ("17" or "#17"), a name or organisation.

    Returns (visitor, revoked_label, candidates): the visitor when exactly one matches; the
    revoked badge label when a revoked code was scanned (the caller records it); otherwise
    the candidates (at most 20). Untrusted text is length-limited and never echoed raw."""
    text = (text or "").strip()[:300]
    if not text:
        return None, None, []
    code = extract_code(text, base_url)
    if code:
        label = find_label(session, code)
        if label is not None and label.target_type == "visitor":
            if label.is_revoked:
                return None, label, []
            visitor = session.get(Visitor, label.target_id)
            if visitor is not None:
                return visitor, None, []
    by_doc = list(session.scalars(sa.select(Visitor).where(Visitor.id_doc_no == normalise_doc_no(text)[:40])
                                  .limit(21)))
    if len(by_doc) == 1:  # a document number wins over a visitor id that happens to look the same
        return by_doc[0], None, []
    if text.lstrip("#").isdigit() and len(text) <= 10:
        by_id = session.get(Visitor, int(text.lstrip("#")))
        if by_id is not None:
            return by_id, None, []
    cond = sa.or_(Visitor.name.ilike(like_pattern(text), escape="\\"),
                  Visitor.name_alt.ilike(like_pattern(text), escape="\\"),
                  Visitor.organization.ilike(like_pattern(text), escape="\\"),
                  Visitor.id_doc_no == normalise_doc_no(text)[:40])
    found = list(session.scalars(sa.select(Visitor).where(cond).order_by(Visitor.name).limit(21)))
    if len(found) == 1:
        return found[0], None, []
    return None, None, found[:20]


def serialize_visitor(v: Visitor, user, home_country: str | None = None) -> dict:
    """The visitor as JSON (SPEC §6 field names); the document number as `user` may see it."""
    home = home_country or site()[0]

    def iso(x):
        return x.isoformat() if x else None

    return {"id": v.id, "name": v.name, "name_alt": v.name_alt, "nationality": v.nationality,
            "foreign": v.is_foreign(home), "id_doc_type": v.id_doc_type.value,
            "id_doc_no": mask_id_doc(v.id_doc_no, user), "organization": v.organization, "position": v.position,
            "purpose": v.purpose, "host_id": v.host_id, "project_id": v.project_id, "arrives_on": iso(v.arrives_on),
            "departs_on": iso(v.departs_on), "badge_code": v.badge_code, "blocked": v.blocked,
            "blocked_reason": v.blocked_reason, "blocked_at": iso(v.blocked_at), "notes": v.notes}


def visitor_form_values(v: Visitor) -> dict:
    """The stored values in the form's shape (the base of a PATCH; unmasked, never sent out)."""
    data = {f: getattr(v, f) for f in VISITOR_FIELDS}
    data["id_doc_type"] = v.id_doc_type.value
    for f in ("arrives_on", "departs_on"):
        data[f] = data[f].isoformat() if data[f] else None
    return data


# ================================================================ area permissions

PERMISSION_DENIED = "permission_denied"


def _usable_approval(session, visitor: Visitor, room: Room, approval_id: int | None):
    """The approval to consume: the one named (it must be usable, else approval_invalid), or the
    oldest usable one for this visitor and room, or None."""
    from registry.approvals import rules as approval_rules
    from registry.approvals import services as approvals
    from registry.approvals.models import Approval

    subject = {"visitor_id": visitor.id, "room_id": room.id}
    if approval_id:
        approval = session.get(Approval, approval_id)
        if approval is None or not approval_rules.usable(session, approval, "area_permission", subject):
            raise violation("approval_invalid", kind=PERMISSION_DENIED, subject=visitor, room=room.code,
                            approval_id=approval_id)
        return approval
    return approvals.find_usable(session, "area_permission", **subject)


def grant_permission(session, visitor: Visitor, room: Room, data: dict, *, actor,
                     now: datetime | None = None) -> AreaPermission:
    """Give a visitor a permission for a room within [valid_from, valid_until].

    Refused (kind permission_denied): visitor_blocked; room_forbidden_for_foreigners;
    project_review_pending (the visitor's project has not passed its secrecy review);
    approval_required (a foreign visitor, a room of level ≥ confidential, and no approved
    area-permission approval). The approval is consumed and referenced. Rooms that always
    need an escort (forbidden, escorted) store escort_required = true."""
    now = now or utcnow()
    home, _tz = site()
    valid_from, valid_until = data["valid_from"], data["valid_until"]
    if valid_until <= valid_from:
        raise ValidationFailed(details={"valid_until": [_l("Must be after the start of the permission.")]})
    if valid_until <= now:
        raise ValidationFailed(details={"valid_until": [_l("The permission would already have ended.")]})
    approval = None
    pre = rules.permission_decision(visitor=visitor, room=room, home_country=home, approval_ok=True)
    if pre and (rules.needs_approval(visitor, room, home) or data.get("approval_id")):
        approval = _usable_approval(session, visitor, room, data.get("approval_id"))
    decision = rules.permission_decision(visitor=visitor, room=room, home_country=home,
                                         approval_ok=approval is not None)
    if not decision:
        message = None
        if decision.reason == "approval_required":
            message = _l("An approved area-permission approval for this visitor and room is required.")
        raise violation(decision.reason, message, kind=PERMISSION_DENIED, subject=visitor, room=room.code)
    escort_required = bool(data.get("escort_required", True)) or rules.needs_permission(room)
    permission = AreaPermission(visitor_id=visitor.id, room_id=room.id, valid_from=valid_from,
                                valid_until=valid_until, escort_required=escort_required,
                                approval_id=approval.id if approval else None, note=(data.get("note") or "")[:500],
                                granted_by=actor_name(actor), created_at=now)
    session.add(permission)
    session.flush()
    if approval is not None:
        from registry.approvals import services as approvals

        approvals.consume(session, approval, actor=actor, used_for=f"area_permissions#{permission.id}", now=now)
    audit.record(session, actor=actor, action="permission.grant", entity=permission,
                 data={"after": permission_snapshot(permission, room)})
    return permission


def permission_snapshot(p: AreaPermission, room: Room | None = None) -> dict:
    room = room or p.room
    return {"visitor_id": p.visitor_id, "room": room.code if room else p.room_id, "valid_from": p.valid_from,
            "valid_until": p.valid_until, "escort_required": p.escort_required, "approval_id": p.approval_id}


def revoke_permission(session, permission: AreaPermission, *, actor, reason: str = "",
                      now: datetime | None = None) -> bool:
    """Revoke a permission (sets revoked_at; audited). Revoking twice changes nothing (False)."""
    if permission.revoked_at is not None:
        return False
    permission.revoked_at = now or utcnow()
    permission.revoked_by = actor_name(actor)
    permission.revoke_reason = (reason or "").strip()[:500]
    session.flush()
    audit.record(session, actor=actor, action="permission.revoke", entity=permission,
                 data={"visitor_id": permission.visitor_id, "room_id": permission.room_id,
                       "reason": permission.revoke_reason})
    return True


def get_permission(session, permission_id: int) -> AreaPermission:
    permission = session.get(AreaPermission, permission_id)
    if permission is None:
        raise NotFound()
    return permission


def covering_permission(session, visitor: Visitor, room: Room, at: datetime) -> AreaPermission | None:
    """The visitor's unrevoked permission for the room whose window contains `at` (latest ending)."""
    return session.scalar(sa.select(AreaPermission).where(
        AreaPermission.visitor_id == visitor.id, AreaPermission.room_id == room.id,
        AreaPermission.revoked_at.is_(None), AreaPermission.valid_from <= at, AreaPermission.valid_until >= at)
        .order_by(AreaPermission.valid_until.desc()).limit(1))


def permissions_query(*, visitor_id: int | None = None, room_id: int | None = None, active_at: datetime | None = None,
                      include_revoked: bool = True, expiring_before: datetime | None = None):
    """SELECT of permissions (newest first) for lists and exports. active_at: only those covering
    that moment; include_revoked=False hides revoked ones."""
    stmt = sa.select(AreaPermission).options(joinedload(AreaPermission.visitor), joinedload(AreaPermission.room))
    if visitor_id:
        stmt = stmt.where(AreaPermission.visitor_id == visitor_id)
    if room_id:
        stmt = stmt.where(AreaPermission.room_id == room_id)
    if active_at is not None:
        stmt = stmt.where(AreaPermission.revoked_at.is_(None), AreaPermission.valid_from <= active_at,
                          AreaPermission.valid_until >= active_at)
    elif not include_revoked:
        stmt = stmt.where(AreaPermission.revoked_at.is_(None))
    if expiring_before is not None:
        stmt = stmt.where(AreaPermission.revoked_at.is_(None), AreaPermission.valid_until <= expiring_before)
    return stmt.order_by(AreaPermission.valid_from.desc(), AreaPermission.id.desc())


def serialize_permission(p: AreaPermission) -> dict:
    def iso(x):
        return x.isoformat() if x else None

    return {"id": p.id, "visitor_id": p.visitor_id, "room_id": p.room_id, "valid_from": iso(p.valid_from),
            "valid_until": iso(p.valid_until), "escort_required": p.escort_required, "approval_id": p.approval_id,
            "revoked_at": iso(p.revoked_at), "note": p.note, "granted_by": p.granted_by,
            "revoke_reason": p.revoke_reason}


# ================================================================ entry and exit

ENTRY_DENIED = "entry_denied"
EXIT_DENIED = "exit_denied"


def open_visit(session, visitor: Visitor) -> Visit | None:
    return session.scalar(sa.select(Visit).where(Visit.visitor_id == visitor.id, Visit.exited_at.is_(None)))


def escort_group_size(session, escort: Person, room: Room) -> int:
    """Visitors inside `room` now accompanied by `escort`."""
    return session.scalar(sa.select(sa.func.count(Visit.id)).where(
        Visit.escort_id == escort.id, Visit.room_id == room.id, Visit.exited_at.is_(None))) or 0


def entry_decision(session, visitor: Visitor, room: Room, *, escort: Person | None = None,
                   now: datetime | None = None) -> tuple[rules.Decision, AreaPermission | None]:
    """Gather the facts and ask rules.entry_decision (used by enter and by pages that preview)."""
    now = now or utcnow()
    home, tz = site()
    permission = covering_permission(session, visitor, room, now)
    decision = rules.entry_decision(
        visitor=visitor, room=room, permission=permission, escort=escort,
        inside=open_visit(session, visitor) is not None,
        escort_group_size=escort_group_size(session, escort, room) if escort is not None else 0,
        today=rules.local_date(now, tz), home_country=home)
    return decision, permission


def _refuse_entry(reason: str, visitor: Visitor, room: Room, escort: Person | None):
    details = {"room": room.code}
    if escort is not None:
        details["escort"] = escort.employee_no
    return violation(reason, kind=ENTRY_DENIED, subject=visitor, **details)


def enter(session, visitor: Visitor, room: Room, *, escort: Person | None = None, devices: list | None = None,
          note: str = "", actor, now: datetime | None = None) -> Visit:
    """Log a visitor's entry into a room after every check of SPEC §4, in its order.

    Refusals (kind entry_denied, details: room code and escort): visitor_blocked, already_inside,
    outside_visit_window, room_forbidden_for_foreigners, no_permission, escort_required,
    escort_not_eligible, escort_group_full. The database allows one open visit per visitor
    (partial unique index): a concurrent second entry is refused as already_inside too.
    `devices` is a validated list (forms.parse_devices)."""
    now = now or utcnow()
    if escort is not None:  # serialise escort-group counting across workers (PostgreSQL row lock)
        session.execute(sa.select(Person.id).where(Person.id == escort.id).with_for_update())
    decision, permission = entry_decision(session, visitor, room, escort=escort, now=now)
    if not decision:
        raise _refuse_entry(decision.reason, visitor, room, escort)
    visit = Visit(visitor_id=visitor.id, room_id=room.id, escort_id=escort.id if escort else None,
                  permission_id=permission.id if permission else None, entered_at=now,
                  logged_by_id=getattr(actor, "id", None), logged_by=actor_name(actor),
                  devices=list(devices or []), note=(note or "")[:500])
    try:
        with session.begin_nested():
            session.add(visit)
            session.flush()
    except IntegrityError:
        raise _refuse_entry("already_inside", visitor, room, escort) from None
    audit.record(session, actor=actor, action="visit.enter", entity=visit, data={
        "visitor_id": visitor.id, "visitor": visitor.name, "room": room.code, "entered_at": now,
        "escort": escort.employee_no if escort else None, "permission_id": visit.permission_id,
        "devices": visit.devices})
    return visit


def exit_visit(session, visit: Visit, *, actor, now: datetime | None = None, note: str = "") -> Visit:
    """Log the exit of an open visit; a visit that is not open is refused (not_inside, 409)."""
    now = now or utcnow()
    if now < visit.entered_at:
        now = visit.entered_at
    result = session.execute(
        sa.update(Visit).where(Visit.id == visit.id, Visit.exited_at.is_(None))
        .values(exited_at=now, exit_logged_by=actor_name(actor))
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise violation("not_inside", kind=EXIT_DENIED, subject=visit.visitor, visit_id=visit.id,
                        room=visit.room.code)
    if note:
        visit.note = ((visit.note + " / ") if visit.note else "") + note[:200]
    session.refresh(visit)
    audit.record(session, actor=actor, action="visit.exit", entity=visit, data={
        "visitor_id": visit.visitor_id, "room": visit.room.code, "entered_at": visit.entered_at, "exited_at": now,
        "deposited_returned": visit.deposited()})
    return visit


def exit_visitor(session, visitor: Visitor, *, actor, now: datetime | None = None) -> Visit:
    """Log the exit of the visitor's open visit, wherever it is; not_inside when there is none."""
    visit = open_visit(session, visitor)
    if visit is None:
        raise violation("not_inside", kind=EXIT_DENIED, subject=visitor)
    return exit_visit(session, visit, actor=actor, now=now)


def get_visit(session, visit_id: int) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise NotFound()
    return visit


def _with_people(stmt):
    return stmt.options(joinedload(Visit.visitor), joinedload(Visit.room), joinedload(Visit.escort),
                        joinedload(Visit.permission))


def inside_now(session, room_id: int | None = None) -> list[Visit]:
    """Open visits (who is inside now), by room code then entry time."""
    stmt = _with_people(sa.select(Visit).join(Visit.room).where(Visit.exited_at.is_(None)))
    if room_id:
        stmt = stmt.where(Visit.room_id == room_id)
    return list(session.scalars(stmt.order_by(Room.code, Visit.entered_at)).unique())


def occupants(session, room: Room) -> list[Visit]:
    """Open visits in one room."""
    return inside_now(session, room.id)


def inside_count(session) -> int:
    return session.scalar(sa.select(sa.func.count(Visit.id)).where(Visit.exited_at.is_(None))) or 0


def inside_by_room(visits: list[Visit]) -> list[tuple[Room, list[Visit]]]:
    """Group open visits by room (keeps the order of inside_now)."""
    groups: dict[int, tuple[Room, list[Visit]]] = {}
    for v in visits:
        groups.setdefault(v.room_id, (v.room, []))[1].append(v)
    return list(groups.values())


def visits_query(*, visitor_id: int | None = None, room_id: int | None = None, escort_id: int | None = None,
                 open_only: bool | None = None, start: datetime | None = None, end: datetime | None = None):
    """SELECT of visits (the entry log), newest first, for lists and exports."""
    stmt = _with_people(sa.select(Visit))
    if visitor_id:
        stmt = stmt.where(Visit.visitor_id == visitor_id)
    if room_id:
        stmt = stmt.where(Visit.room_id == room_id)
    if escort_id:
        stmt = stmt.where(Visit.escort_id == escort_id)
    if open_only is True:
        stmt = stmt.where(Visit.exited_at.is_(None))
    elif open_only is False:
        stmt = stmt.where(Visit.exited_at.is_not(None))
    if start is not None:
        stmt = stmt.where(Visit.entered_at >= start)
    if end is not None:
        stmt = stmt.where(Visit.entered_at <= end)
    return stmt.order_by(Visit.entered_at.desc(), Visit.id.desc())


def serialize_visit(v: Visit) -> dict:
    def iso(x):
        return x.isoformat() if x else None

    return {"id": v.id, "visitor_id": v.visitor_id, "room_id": v.room_id, "escort_id": v.escort_id,
            "entered_at": iso(v.entered_at), "exited_at": iso(v.exited_at), "devices": v.devices or [],
            "permission_id": v.permission_id, "logged_by": v.logged_by, "exit_logged_by": v.exit_logged_by,
            "note": v.note}


def find_room_by_code(session, code: str) -> Room:
    room = session.scalar(sa.select(Room).where(sa.func.lower(Room.code) == (code or "").strip().lower()))
    if room is None:
        raise NotFound(_l("Unknown room code."))
    return room


def find_person_by_employee_no(session, employee_no: str) -> Person:
    person = session.scalar(sa.select(Person).where(
        sa.func.lower(Person.employee_no) == (employee_no or "").strip().lower()))
    if person is None:
        raise NotFound(_l("Unknown employee number."))
    return person


def escort_conditions(room_id: int | None) -> list:
    """Who may be offered as an escort (SQL conditions on Person): active staff of the home country, and
    the active people on the room's access list. The select, the person picker's lookup and the
    resolution of a typed employee number all use this (core.pages.PERSON_SCOPES["escort"])."""
    from registry.areas.models import RoomAccess
    from registry.people.models import PersonStatus

    home, _tz = site()
    home_national = sa.func.upper(Person.nationality) == (home or "CN").upper()
    if room_id is None:
        return [Person.status == PersonStatus.ACTIVE, home_national]
    listed = sa.select(RoomAccess.person_id).where(RoomAccess.room_id == room_id, RoomAccess.revoked_at.is_(None))
    return [Person.status == PersonStatus.ACTIVE, sa.or_(home_national, Person.id.in_(listed))]


def escort_choices(session, room: Room | None) -> tuple[list[Person], list]:
    """Active staff to pick an escort from: (on the room's access list, everyone else of escort_conditions)."""
    from registry.areas.services import access_list

    listed = [a.person for a in access_list(session, room)] if room is not None else []
    listed_ids = {p.id for p in listed}
    # rows with .id, .name, .employee_no (what the select shows) instead of ~20,000 Person entities (issue 8)
    others = [p for p in session.execute(sa.select(Person.id, Person.name, Person.employee_no)
                                         .where(*escort_conditions(room.id if room is not None else None))
                                         .order_by(Person.name))
              if p.id not in listed_ids]
    return [p for p in listed if p.is_active], others


def _register_escort_scope() -> None:
    """The guard station's person picker: escorts (guards and officers look them up)."""
    from registry.core.pages import PERSON_SCOPES, PersonScope

    def where(params) -> list:
        try:
            room_id = int(params.get("room_id") or 0) or None
        except (TypeError, ValueError):
            room_id = None
        return escort_conditions(room_id if room_id and 0 < room_id < 2**31 else None)

    PERSON_SCOPES["escort"] = PersonScope(where, ("guard", "officer"))


_register_escort_scope()


# ================================================================ approvals integration

def _register_approval_hooks() -> None:
    """Teach the approvals domain about visitors: the visitor_id subject, the host as the
    beneficiary (no self-approval by the host), and the project review at request time."""
    from registry.approvals import rules as approval_rules
    from registry.approvals import services as approvals

    def load_visitor(session, pk):
        return session.get(Visitor, pk)

    def beneficiaries(session, approval):
        visitor = session.get(Visitor, approval.visitor_id) if approval.visitor_id else None
        return {visitor.host_id} if visitor is not None and visitor.host_id else set()

    def request_check(session, actor, subject):
        visitor = session.get(Visitor, subject["visitor_id"])
        room = session.get(Room, subject["room_id"])
        home, _tz = site()
        decision = rules.permission_decision(visitor=visitor, room=room, home_country=home, approval_ok=True)
        if not decision:
            raise violation(decision.reason, kind="approval_denied", subject=visitor, room=room.code)

    approvals.SUBJECT_LOADERS["visitor_id"] = load_visitor
    approvals.REQUEST_CHECKS["area_permission"] = request_check
    approval_rules.BENEFICIARIES["area_permission"] = beneficiaries


def request_permission_approval(session, visitor: Visitor, room: Room, *, purpose: str, actor,
                                window: tuple[datetime, datetime] | None = None):
    """Ask for an area-permission approval for this visitor and room (the approvals inbox decides)."""
    from registry.approvals import services as approvals

    details = {"valid_from": window[0].isoformat(), "valid_until": window[1].isoformat()} if window else None
    return approvals.request_approval(session, kind="area_permission", actor=actor, purpose=purpose,
                                      details=details, visitor_id=visitor.id, room_id=room.id)


_register_approval_hooks()
