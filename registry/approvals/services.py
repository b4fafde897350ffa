"""Approval commands: request, decide, find a usable one, consume it exactly once, cancel.

Generic over kinds: each kind names its subject fields (SUBJECT_FIELDS); a subject field is
checked against its table through SUBJECT_LOADERS, which other domains extend for their own
records (visits: visitor_id, cooperation: provision_id). Services flush and never commit.

Other domains use:
    request_approval(session, kind="area_permission", actor=user, visitor_id=..., room_id=...)
    find_usable(session, "area_permission", visitor_id=..., room_id=...) -> Approval | None
    consume(session, approval, actor=user, used_for="permissions#3")
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from registry.approvals import rules
from registry.approvals.models import Approval, ApprovalKind, ApprovalStatus, Decision
from registry.core import audit
from registry.core.errors import Conflict, Forbidden, NotFound, NotVisible, ValidationFailed, violation
from registry.core.models import utcnow

SUBJECT_FIELDS: dict[str, tuple[str, ...]] = {
    "checkout": ("asset_id", "borrower_id"),
    "area_permission": ("visitor_id", "room_id"),
    "provision": ("provision_id",),
    "destruction": ("asset_ids",),
    "copy": ("asset_id",),
}
ALL_SUBJECT_FIELDS = ("asset_id", "borrower_id", "visitor_id", "room_id", "provision_id", "asset_ids")


def _model_loader(dotted: str):
    def load(session, pk):
        from importlib import import_module

        module, _, name = dotted.partition(":")
        return session.get(getattr(import_module(module), name), pk)

    return load


# field -> callable(session, id) -> record | None. Fields without a loader accept any positive id.
SUBJECT_LOADERS: dict[str, object] = {
    "asset_id": _model_loader("registry.assets.models:Asset"),
    "borrower_id": _model_loader("registry.people.models:Person"),
    "room_id": _model_loader("registry.areas.models:Room"),
}

# field -> callable(actor, record) -> bool: may `actor` name this record? A record the requester may
# not see is "Unknown record." exactly like a missing one (an item outside a staff member's
# need-to-know must not become readable, or even confirmed, through an approval request).
SUBJECT_VISIBLE: dict[str, object] = {}

# kind -> callable(session, actor, subject: dict) that raises when `actor` may not request it.
REQUEST_CHECKS: dict[str, object] = {}


def snapshot(a: Approval) -> dict:
    return {"kind": a.kind.value, "status": a.status.value, "purpose": a.purpose,
            **{f: getattr(a, f) for f in ALL_SUBJECT_FIELDS if getattr(a, f) not in (None, [])}}


def _known(session, key: str, value: int, actor, hidden: list) -> bool:
    """The record exists and (when the field has a visibility rule and an actor is given) the actor
    may see it. A record that exists but is hidden from the actor is appended to `hidden`."""
    loader = SUBJECT_LOADERS.get(key)
    if loader is None:
        return True
    record = loader(session, value)
    if record is None:
        return False
    visible = SUBJECT_VISIBLE.get(key)
    if actor is None or visible is None or visible(actor, record):
        return True
    hidden.append(record)
    return False


def clean_subject(session, kind: str, subject: dict, actor=None) -> dict:
    """Validate the subject for `kind`: exactly its fields, each referring to an existing record
    that `actor` may see (SUBJECT_VISIBLE)."""
    if kind not in SUBJECT_FIELDS:
        raise ValidationFailed(details={"kind": [_l("Unknown approval kind.")]})
    wanted = SUBJECT_FIELDS[kind]
    errors: dict[str, list] = {}
    hidden: list = []
    given = {k: v for k, v in subject.items() if v not in (None, "", [])}
    for key in given:
        if key not in ALL_SUBJECT_FIELDS:
            errors[key] = [_l("Unknown field.")]
        elif key not in wanted:
            errors[key] = [_l("Not used for this kind of approval.")]
    clean: dict = {}
    for key in wanted:
        value = given.get(key)
        if value is None:
            errors[key] = [_l("This field is required.")]
            continue
        if key == "asset_ids":
            try:
                ids = sorted({int(v) for v in (value if isinstance(value, (list, tuple, set)) else [value])})
            except (TypeError, ValueError):
                errors[key] = [_l("A list of item ids.")]
                continue
            missing = [i for i in ids if i <= 0 or not _known(session, "asset_id", i, actor, hidden)]
            if missing:
                errors[key] = [_l("Unknown item ids: %(ids)s", ids=", ".join(map(str, missing)))]
            clean[key] = ids
            continue
        try:
            value = int(value)
        except (TypeError, ValueError):
            errors[key] = [_l("Must be a whole number.")]
            continue
        if value <= 0 or not _known(session, key, value, actor, hidden):
            errors[key] = [_l("Unknown record.")]
        clean[key] = value
    if errors:
        if not hidden:
            raise ValidationFailed(details=errors)
        # answered like a missing record, but recorded as an access denial (core.http): the
        # messages as plain text, since they are stored with the security event
        exc = ValidationFailed(details={k: [str(m) for m in v] for k, v in errors.items()})
        exc.hidden, exc.subject = True, hidden[0]
        raise exc
    return clean


def request_approval(session, *, kind: str, actor, purpose: str = "", details: dict | None = None,
                     now: datetime | None = None, **subject) -> Approval:
    """Open a pending approval of `kind` for `subject` (fields per SUBJECT_FIELDS).

    Staff may request checkout and copy approvals only for themselves. A second open request
    for the same kind and subject is a conflict (the existing one is named in the details).
    """
    kind = ApprovalKind(kind).value if kind in ApprovalKind.values() else kind
    rules.check_kind(actor, kind)  # before the subject: a refused kind must not reveal what the subject names
    clean = clean_subject(session, kind, subject, actor)
    rules.check_request(actor, kind, clean)
    check = REQUEST_CHECKS.get(kind)
    if check is not None:
        check(session, actor, clean)
    existing = find_open(session, kind, **clean)
    if existing is not None:
        raise Conflict(_l("An open approval request for this already exists (#%(id)d).", id=existing.id),
                       details={"approval_id": existing.id})
    approval = Approval(kind=ApprovalKind(kind), status=ApprovalStatus.PENDING, purpose=(purpose or "")[:500],
                        details=details or None, requested_by=getattr(actor, "id", None),
                        requested_at=now or utcnow(), **clean)
    session.add(approval)
    session.flush()
    audit.record(session, actor=actor, action="approval.request", entity=approval, data={"after": snapshot(approval)})
    return approval


def decide(session, approval: Approval, *, decision: str, reason: str = "", actor,
           now: datetime | None = None) -> Approval:
    """Approve or reject a pending approval. Refuses `self_approval` (the requester or a
    beneficiary deciding) and deciding anything but a pending request (`approval_invalid`).
    A rejection needs a reason."""
    try:
        decision = Decision(decision)
    except ValueError:
        raise ValidationFailed(details={"decision": ["approved | rejected"]}) from None
    reason = (reason or "").strip()[:1000]
    if decision == Decision.REJECTED and not reason:
        raise ValidationFailed(details={"reason": [_l("Give a reason for the rejection.")]})
    rules.check_may_decide(session, approval, actor)
    before = approval.status.value
    # Conditional update: two approvers deciding at once cannot both win.
    result = session.execute(
        sa.update(Approval).where(Approval.id == approval.id, Approval.status == ApprovalStatus.PENDING)
        .values(status=ApprovalStatus(decision.value), decided_by=actor.id, decided_at=now or utcnow(),
                reason=reason).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise violation("approval_invalid", kind="approval_denied", subject=approval, approval_id=approval.id)
    session.refresh(approval)
    audit.record(session, actor=actor, action=f"approval.{decision.value}", entity=approval,
                 data={"before": {"status": before}, "after": {"status": approval.status.value, "reason": reason}})
    return approval


def find_open(session, kind: str, **subject) -> Approval | None:
    """A pending or approved (not yet used) approval of `kind` naming exactly this subject."""
    return _find(session, kind, (ApprovalStatus.PENDING, ApprovalStatus.APPROVED), subject)


def find_usable(session, kind: str, **subject) -> Approval | None:
    """The oldest approved, unused approval of `kind` for this subject, decided by someone who is
    neither its requester nor its beneficiary; None when there is none."""
    for approval in _candidates(session, kind, (ApprovalStatus.APPROVED,), subject):
        if rules.usable(session, approval, kind, subject):
            return approval
    return None


def _candidates(session, kind, statuses, subject):
    stmt = sa.select(Approval).where(Approval.kind == ApprovalKind(kind), Approval.status.in_(statuses))
    for key, value in subject.items():
        if key != "asset_ids":
            stmt = stmt.where(getattr(Approval, key) == value)
    approvals = session.scalars(stmt.order_by(Approval.decided_at, Approval.id)).all()
    return [a for a in approvals if rules.matches(a, kind, subject)]


def _find(session, kind, statuses, subject):
    found = _candidates(session, kind, statuses, subject)
    return found[0] if found else None


def consume(session, approval: Approval, *, actor, used_for: str | None = None,
            now: datetime | None = None) -> Approval:
    """Mark an approved approval `used`, exactly once: an atomic conditional UPDATE; a second
    consumer (or a cancelled/rejected approval) gets `approval_invalid`."""
    result = session.execute(
        sa.update(Approval).where(Approval.id == approval.id, Approval.status == ApprovalStatus.APPROVED)
        .values(status=ApprovalStatus.USED, used_at=now or utcnow(), used_for=(used_for or "")[:80] or None)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise violation("approval_invalid", kind="approval_denied", subject=approval, approval_id=approval.id)
    session.refresh(approval)
    audit.record(session, actor=actor, action="approval.use", entity=approval,
                 data={"before": {"status": "approved"}, "after": {"status": "used", "used_for": used_for}})
    return approval


def cancel(session, approval: Approval, *, actor, now: datetime | None = None) -> Approval:
    """Withdraw a pending or approved (unused) approval. The requester, an officer or an
    administrator may cancel."""
    if actor is not None and actor.id != approval.requested_by and not actor.has_role("officer"):
        raise Forbidden(_l("Only the requester or a security officer may cancel this request."))
    result = session.execute(
        sa.update(Approval).where(Approval.id == approval.id,
                                  Approval.status.in_((ApprovalStatus.PENDING, ApprovalStatus.APPROVED)))
        .values(status=ApprovalStatus.CANCELLED, cancelled_at=now or utcnow())
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise violation("approval_invalid", kind="approval_denied", subject=approval, approval_id=approval.id)
    before = approval.status.value
    session.refresh(approval)
    audit.record(session, actor=actor, action="approval.cancel", entity=approval,
                 data={"before": {"status": before}, "after": {"status": "cancelled"}})
    return approval


def get_approval(session, approval_id: int) -> Approval:
    approval = session.get(Approval, approval_id)
    if approval is None:
        raise NotFound()
    return approval


def can_see(user, approval: Approval) -> bool:
    """Approvers, officers and inspectors see every approval; others the ones they requested
    or that are for them (their own person as borrower). The rule is rules.can_read."""
    return rules.can_read(user, approval)


def visible_approval(session, user, approval_id: int) -> Approval:
    """The approval `user` may read: NotFound for an unknown id, NotVisible (answered alike, recorded
    as an access denial) for another person's request."""
    approval = get_approval(session, approval_id)
    if not rules.can_read(user, approval):
        raise NotVisible(approval)
    return approval


def approvals_query(user, *, kind: str | None = None, status: str | None = None, asset_id: int | None = None,
                    borrower_id: int | None = None, mine: bool = False):
    """Approvals `user` may see, pending first, newest first within each status."""
    # requester, decider and subject rows loaded with the page, not one query per row (issue 8)
    stmt = sa.select(Approval).options(selectinload(Approval.requester), selectinload(Approval.decider),
                                       selectinload(Approval.asset), selectinload(Approval.borrower),
                                       selectinload(Approval.room))
    if mine or not user.has_role("approver", "officer", "inspector"):
        own = Approval.requested_by == user.id
        if user.person_id:
            own = sa.or_(own, Approval.borrower_id == user.person_id)
        stmt = stmt.where(own)
    if kind:
        stmt = stmt.where(Approval.kind == ApprovalKind(kind))
    if status:
        stmt = stmt.where(Approval.status == ApprovalStatus(status))
    if asset_id:
        stmt = stmt.where(Approval.asset_id == asset_id)
    if borrower_id:
        stmt = stmt.where(Approval.borrower_id == borrower_id)
    pending_first = sa.case((Approval.status == ApprovalStatus.PENDING, 0), else_=1)
    return stmt.order_by(pending_first, Approval.requested_at.desc(), Approval.id.desc())


def pending_count(session) -> int:
    return session.scalar(sa.select(sa.func.count(Approval.id)).where(Approval.status == ApprovalStatus.PENDING)) or 0


def serialize(a: Approval) -> dict:
    def iso(v):
        return v.isoformat() if v else None

    return {"id": a.id, "kind": a.kind.value, "status": a.status.value, "asset_id": a.asset_id,
            "borrower_id": a.borrower_id, "visitor_id": a.visitor_id, "room_id": a.room_id,
            "provision_id": a.provision_id, "asset_ids": a.asset_ids or [], "purpose": a.purpose,
            "details": a.details or {}, "requested_by": a.requested_by, "requested_at": iso(a.requested_at),
            "decided_by": a.decided_by, "decided_at": iso(a.decided_at), "reason": a.reason,
            "used_at": iso(a.used_at), "used_for": a.used_for}
