"""Provision commands and queries (对外提供资料). Each step of the procedure is one command; every
command re-checks the rules (provision_rules), records an audit event, flushes and never commits.

For the Excel register: `provisions_query(...)` is the SELECT of Provision rows in register order
(filters q, status, project_id, level, recipient_country, date_from, date_to) and `serialize(p)`
gives the SPEC §6 fields of a row; `Provision.effective_status` is the status to print.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from registry.cooperation import provision_rules as rules
from registry.cooperation.models import CooperationProject
from registry.cooperation.provision_models import Provision, ProvisionStatus, ReviewOutcome, Treatment
from registry.core import audit
from registry.core.errors import Forbidden, NotFound, ValidationFailed, violation
from registry.core.models import Level, utcnow
from registry.core.query import order_by, search
from registry.people.models import Person

SCOPE_FIELDS = ("project_id", "material", "asset_id", "level", "copies", "recipient", "recipient_country",
                "purpose", "legal_basis")
REVIEW_FIELDS = ("reviewer_id", "reviewed_on", "review_outcome", "review_conclusion")
TREATMENT_FIELDS = ("treatment", "treated_on", "treatment_note")
AGREEMENT_FIELDS = ("agreement_no", "agreement_signed_on", "agreement_parties")
ALL_FIELDS = SCOPE_FIELDS + REVIEW_FIELDS + TREATMENT_FIELDS + AGREEMENT_FIELDS + ("approval_id",)
_TEXT = ("material", "recipient", "recipient_country", "purpose", "legal_basis", "review_conclusion",
         "treatment_note", "agreement_no", "agreement_parties")


def snapshot(p: Provision) -> dict:
    return {f: getattr(p, f) for f in ALL_FIELDS + ("status", "provided_on")}


def _record(session, p: Provision, action: str, before: dict, *, actor, **extra) -> dict:
    after = snapshot(p)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    session.flush()
    audit.record(session, actor=actor, action=action, entity=p,
                 data={"before": {k: before.get(k) for k in changed}, "after": changed, **extra})
    return changed


def _check_manage(actor) -> None:
    if not rules.can_manage(actor):
        raise Forbidden(_l("Only a security officer records provisions to foreign parties."))


def _today(today: date | None) -> date:
    if today is not None:
        return today
    from registry.people.services import unit_today

    return unit_today()


def _not_future(field: str, value: date | None, today: date) -> None:
    if value is not None and value > today:
        raise ValidationFailed(details={field: [_l("The date cannot be in the future.")]})


# ------------------------------------------------------------------ step 1: scope

def _clean_scope(session, data: dict, current: Provision | None = None) -> dict:
    """Check references and fill the level from the registered item when none is given."""
    from registry.assets.models import Asset, AssetStatus

    errors: dict[str, list] = {}
    out = {f: data[f] for f in SCOPE_FIELDS if f in data}
    project_id = out.get("project_id", current.project_id if current else None)
    if project_id is None or session.get(CooperationProject, project_id) is None:
        errors["project_id"] = [_l("Unknown record.")]
    asset = None
    asset_id = out.get("asset_id", current.asset_id if current else None)
    if asset_id is not None:
        asset = session.get(Asset, asset_id)
        if asset is None:
            errors["asset_id"] = [_l("Unknown record.")]
        elif asset.status == AssetStatus.DESTROYED and (current is None or current.asset_id != asset_id):
            errors["asset_id"] = [_l("The item has been destroyed.")]
    if out.get("level") in (None, ""):
        if current is not None and "level" not in data:
            out.pop("level", None)
        elif asset is not None:
            out["level"] = asset.level
        elif current is not None:
            out["level"] = current.level
        else:
            errors["level"] = [_l("Give the level, or the registered item it is taken from.")]
    if out.get("level") not in (None, ""):
        out["level"] = Level(out["level"])
    if "copies" in out:
        out["copies"] = int(out["copies"] or 1)
    if "recipient_country" in out and out["recipient_country"]:
        out["recipient_country"] = str(out["recipient_country"]).upper()[:2]
    for f in _TEXT:
        if f in out and out[f] is None:
            out[f] = ""
    if errors:
        raise ValidationFailed(details=errors)
    return out


def create_provision(session, data: dict, *, actor, today: date | None = None) -> Provision:
    """Register a provision request (step 1). The project must have passed its secrecy review
    (`project_review_pending`). Further step fields in `data` (review, treatment, agreement,
    approval_id) are recorded at once through their own commands."""
    _check_manage(actor)
    scope = _clean_scope(session, data)
    project = session.get(CooperationProject, scope["project_id"])
    p = Provision(status=ProvisionStatus.REQUESTED, requested_by=getattr(actor, "id", None), **scope)
    p.project = project
    rules.check_project(project, None)
    session.add(p)
    session.flush()
    audit.record(session, actor=actor, action="provision.create", entity=p, data={"after": snapshot(p)})
    apply_steps(session, p, data, actor=actor, today=today)
    return p


def update_scope(session, p: Provision, data: dict, *, actor) -> dict:
    """Correct the scope of an open provision. Once an approval was granted the scope is what was
    approved and cannot change (`invalid_transition`): request a new provision instead."""
    _check_manage(actor)
    rules.check_open(p)
    scope = _clean_scope(session, data, current=p)
    changes = {k: v for k, v in scope.items() if getattr(p, k) != v}
    if not changes:
        return {}
    if p.approval_granted:
        raise violation("invalid_transition", _l("The scope was approved and cannot change; register a new provision."),
                        kind=rules.KIND, subject=p, fields=sorted(changes))
    if "project_id" in changes:
        rules.check_project(session.get(CooperationProject, changes["project_id"]), p)
    before = snapshot(p)
    for k, v in changes.items():
        setattr(p, k, v)
    if "project_id" in changes:
        session.expire(p, ["project"])
    if "asset_id" in changes:
        session.expire(p, ["asset"])
    return _record(session, p, "provision.update", before, actor=actor)


# ------------------------------------------------------------------ step 2: secrecy review

def record_review(session, p: Provision, data: dict, *, actor, today: date | None = None) -> dict:
    """Record the secrecy review of the material: reviewer, date, outcome, conclusion.

    An outcome other than `passed` needs a conclusion; `rejected` ends the provision (rejected)."""
    _check_manage(actor)
    rules.check_open(p)
    today = _today(today)
    errors: dict[str, list] = {}
    outcome = data.get("review_outcome")
    if not outcome:
        errors["review_outcome"] = [_l("This field is required.")]
    reviewer_id = data.get("reviewer_id")
    if reviewer_id is None:
        errors["reviewer_id"] = [_l("Name the reviewer.")]
    elif session.get(Person, reviewer_id) is None:
        errors["reviewer_id"] = [_l("Unknown person.")]
    reviewed_on = data.get("reviewed_on") or today
    conclusion = (data.get("review_conclusion") or "").strip()
    if outcome and ReviewOutcome(outcome) != ReviewOutcome.PASSED and not conclusion:
        errors["review_conclusion"] = [_l("State the conditions or the reasons in the conclusion.")]
    if errors:
        raise ValidationFailed(details=errors)
    _not_future("reviewed_on", reviewed_on, today)
    before = snapshot(p)
    p.reviewer_id, p.reviewed_on = reviewer_id, reviewed_on
    p.review_outcome, p.review_conclusion = ReviewOutcome(outcome), conclusion
    session.expire(p, ["reviewer"])
    if p.review_outcome == ReviewOutcome.REJECTED:
        p.status = ProvisionStatus.REJECTED
        p.rejected_reason = conclusion[:1000]
    return _record(session, p, "provision.review", before, actor=actor)


# ------------------------------------------------------------------ step 3: technical treatment

def record_treatment(session, p: Provision, data: dict, *, actor, today: date | None = None) -> dict:
    """Record what was done to the material before it leaves (脱密处理 / 技术处理), or that none was needed.

    `none_needed` is refused where treatment is needed (`treatment_required`); a real treatment
    needs a note saying what was done."""
    _check_manage(actor)
    rules.check_open(p)
    today = _today(today)
    treatment = data.get("treatment")
    note = (data.get("treatment_note") or "").strip()
    if not treatment:
        raise ValidationFailed(details={"treatment": [_l("This field is required.")]})
    treatment = Treatment(treatment)
    if treatment != Treatment.NONE_NEEDED and not note:
        raise ValidationFailed(details={"treatment_note": [_l("Say what was done.")]})
    treated_on = data.get("treated_on") or today
    _not_future("treated_on", treated_on, today)
    if treatment == Treatment.NONE_NEEDED and rules.treatment_needed(p):
        raise violation("treatment_required", kind=rules.KIND, subject=p, requested=treatment.value)
    before = snapshot(p)
    p.treatment, p.treated_on, p.treatment_note = treatment, treated_on, note
    return _record(session, p, "provision.treatment", before, actor=actor)


# ------------------------------------------------------------------ step 4: approval

def request_approval(session, p: Provision, *, actor, purpose: str = ""):
    """Ask for the provision approval (registry.approvals, kind `provision`, subject provision_id).

    Steps 1–3 must be complete (project review, secrecy review, treatment where needed). The
    approval is linked to the provision; an approver other than the requester decides it."""
    from registry.approvals import services as approvals

    _check_manage(actor)
    rules.check_may_request_approval(p, p.project)
    text = (purpose or "").strip() or f"{p.material} → {p.recipient} ({p.recipient_country})"
    approval = approvals.request_approval(session, kind="provision", actor=actor, purpose=text[:500],
                                          provision_id=p.id)
    before = snapshot(p)
    p.approval_id = approval.id
    _record(session, p, "provision.approval_request", before, actor=actor)
    return approval


def link_approval(session, p: Provision, approval_id: int | None, *, actor) -> dict:
    """Link an existing provision approval (e.g. requested through the approvals API) to the record."""
    from registry.approvals.models import Approval, ApprovalKind

    _check_manage(actor)
    rules.check_open(p)
    approval = session.get(Approval, approval_id) if approval_id else None
    if approval is None or approval.kind != ApprovalKind.PROVISION or approval.provision_id != p.id:
        raise ValidationFailed(details={"approval_id": [_l("Not a provision approval for this record.")]})
    if p.approval_id == approval.id:
        return {}
    before = snapshot(p)
    p.approval_id = approval.id
    session.expire(p, ["approval"])
    return _record(session, p, "provision.approval_link", before, actor=actor)


# ------------------------------------------------------------------ step 5: agreement

def record_agreement(session, p: Provision, data: dict, *, actor, today: date | None = None) -> dict:
    """Record the confidentiality agreement (保密协议): number, signing date and parties."""
    _check_manage(actor)
    rules.check_open(p)
    today = _today(today)
    number = (data.get("agreement_no") or "").strip()
    signed = data.get("agreement_signed_on")
    errors = {}
    if not number:
        errors["agreement_no"] = [_l("This field is required.")]
    if not signed:
        errors["agreement_signed_on"] = [_l("This field is required.")]
    if errors:
        raise ValidationFailed(details=errors)
    _not_future("agreement_signed_on", signed, today)
    before = snapshot(p)
    p.agreement_no, p.agreement_signed_on = number, signed
    p.agreement_parties = (data.get("agreement_parties") or "").strip()
    return _record(session, p, "provision.agreement", before, actor=actor)


# ------------------------------------------------------------------ outcome

def mark_provided(session, p: Provision, *, actor, provided_on: date | None = None,
                  today: date | None = None) -> Provision:
    """Record that the material was handed over. Every step is re-checked in order
    (provision_rules.check_providable); for level ≥ confidential the approval is consumed."""
    from registry.approvals import services as approvals

    _check_manage(actor)
    today = _today(today)
    provided_on = provided_on or today
    _not_future("provided_on", provided_on, today)
    approval = rules.check_providable(session, p, provided_on=provided_on)
    if approval is not None:
        approvals.consume(session, approval, actor=actor, used_for=f"provisions#{p.id}")
    before = snapshot(p)
    # Conditional update: two officers marking the same provision cannot both succeed.
    done = session.execute(
        sa.update(Provision).where(Provision.id == p.id, Provision.status == ProvisionStatus.REQUESTED)
        .values(status=ProvisionStatus.PROVIDED, provided_on=provided_on,
                provided_by=getattr(actor, "username", None) or "system", updated_at=utcnow(),
                approval_id=approval.id if approval is not None else p.approval_id)
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise violation("invalid_transition", kind=rules.KIND, subject=p, race=True)
    session.expire(p)
    _record(session, p, "provision.provided", before, actor=actor)
    return p


def reject_provision(session, p: Provision, *, actor, reason: str) -> dict:
    """End an open provision as rejected (the material will not be provided); a reason is required."""
    _check_manage(actor)
    rules.check_open(p)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(details={"reason": [_l("Give a reason.")]})
    before = snapshot(p)
    p.status = ProvisionStatus.REJECTED
    p.rejected_reason = reason[:1000]
    return _record(session, p, "provision.reject", before, actor=actor, reason=reason)


def apply_steps(session, p: Provision, data: dict, *, actor, today: date | None = None) -> dict:
    """Record whichever steps `data` changes (API PATCH and POST): scope, review, treatment,
    agreement, linked approval, each through its own command and rules."""
    changed: dict = {}

    def differs(fields):
        return any(f in data and data[f] not in (None, "") and _plain(getattr(p, f)) != _plain(data[f])
                   for f in fields)

    if any(f in data and _plain(getattr(p, f)) != _plain(data[f]) for f in SCOPE_FIELDS
           if not (f == "level" and data.get(f) in (None, ""))):
        changed.update(update_scope(session, p, data, actor=actor))
    if differs(REVIEW_FIELDS):
        changed.update(record_review(session, p, {f: data.get(f) for f in REVIEW_FIELDS}, actor=actor, today=today))
    if differs(TREATMENT_FIELDS):
        changed.update(record_treatment(session, p, {f: data.get(f) for f in TREATMENT_FIELDS}, actor=actor,
                                        today=today))
    if differs(AGREEMENT_FIELDS):
        changed.update(record_agreement(session, p, {f: data.get(f) for f in AGREEMENT_FIELDS}, actor=actor,
                                        today=today))
    if data.get("approval_id") and data["approval_id"] != p.approval_id:
        changed.update(link_approval(session, p, data["approval_id"], actor=actor))
    return changed


def _plain(value):
    return getattr(value, "value", value) if value not in (None, "") else None


# ------------------------------------------------------------------ queries

def get_provision(session, provision_id: int) -> Provision:
    p = session.get(Provision, provision_id)
    if p is None:
        raise NotFound()
    return p


def status_condition(status: str):
    """SQL twin of Provision.effective_status == status (tested against the property)."""
    from registry.approvals.models import Approval, ApprovalKind, ApprovalStatus

    granted = sa.exists().where(Approval.kind == ApprovalKind.PROVISION, Approval.provision_id == Provision.id,
                                Approval.status.in_([ApprovalStatus.APPROVED, ApprovalStatus.USED]))
    status = ProvisionStatus(status)
    if status == ProvisionStatus.APPROVED:
        return sa.or_(Provision.status == ProvisionStatus.APPROVED,
                      sa.and_(Provision.status == ProvisionStatus.REQUESTED, granted))
    if status == ProvisionStatus.REQUESTED:
        return sa.and_(Provision.status == ProvisionStatus.REQUESTED, ~granted)
    return Provision.status == status


SORTS = {"id": Provision.id, "created_at": Provision.created_at, "provided_on": Provision.provided_on,
         "level": Provision.level, "recipient": Provision.recipient, "status": Provision.status}


def provisions_query(*, q: str | None = None, status: str | None = None, project_id: int | None = None,
                     level: str | None = None, recipient_country: str | None = None,
                     date_from: date | None = None, date_to: date | None = None, sort: str | None = None):
    """SELECT of provisions for the register page, the API and the Excel register (newest first).

    `date_from`/`date_to` filter on the registration date (created_at, unit-agnostic UTC dates)."""
    stmt = sa.select(Provision).join(Provision.project)
    cond = search([Provision.material, Provision.recipient, Provision.agreement_no, CooperationProject.name,
                   CooperationProject.partner], q)
    if cond is not None:
        stmt = stmt.where(cond)
    if status:
        stmt = stmt.where(status_condition(status))
    if project_id:
        stmt = stmt.where(Provision.project_id == project_id)
    if level:
        stmt = stmt.where(Provision.level == Level(level))
    if recipient_country:
        stmt = stmt.where(Provision.recipient_country == recipient_country.upper()[:2])
    if date_from:
        stmt = stmt.where(Provision.created_at >= datetime.combine(date_from, time.min, tzinfo=timezone.utc))
    if date_to:
        stmt = stmt.where(Provision.created_at <= datetime.combine(date_to, time.max, tzinfo=timezone.utc))
    return order_by(stmt, sort, SORTS, "-id")


def open_count(session) -> int:
    """Provisions still in progress (requested or approved, not yet provided)."""
    return session.scalar(sa.select(sa.func.count(Provision.id)).where(
        Provision.status == ProvisionStatus.REQUESTED)) or 0


def supervision_summary(session) -> list[tuple[object, str, int]]:
    """(label, severity, count) of each supervision finding over the whole register, worst first."""
    counts: dict[str, list] = {}
    for p in session.scalars(sa.select(Provision)):
        for flag in rules.supervision_flags(p):
            entry = counts.setdefault(flag.code, [flag.label, flag.severity, 0])
            entry[2] += 1
    return sorted(((label, sev, n) for label, sev, n in counts.values()), key=lambda t: (t[1] != "bad", -t[2]))


def serialize(p: Provision) -> dict:
    """The SPEC §6 provision fields, the step fields and the supervision flags."""
    def iso(v):
        return v.isoformat() if v else None

    return {
        "id": p.id, "project_id": p.project_id, "material": p.material, "asset_id": p.asset_id,
        "level": p.level.value, "copies": p.copies, "recipient": p.recipient,
        "recipient_country": p.recipient_country, "purpose": p.purpose, "legal_basis": p.legal_basis,
        "reviewer_id": p.reviewer_id, "reviewed_on": iso(p.reviewed_on),
        "review_outcome": p.review_outcome.value if p.review_outcome else None,
        "review_conclusion": p.review_conclusion, "treatment": p.treatment.value if p.treatment else None,
        "treated_on": iso(p.treated_on), "treatment_note": p.treatment_note, "approval_id": p.approval_id,
        "approval_status": p.current_approval.status.value if p.current_approval is not None else None,
        "agreement_no": p.agreement_no or None, "agreement_signed_on": iso(p.agreement_signed_on),
        "agreement_parties": p.agreement_parties, "provided_on": iso(p.provided_on),
        "status": p.effective_status.value, "rejected_reason": p.rejected_reason or None,
        "flags": [f.code for f in rules.supervision_flags(p)],
    }


def form_values(p: Provision) -> dict:
    """Current values in the API form's shape (the base of a PATCH)."""
    data = serialize(p)
    return {k: data[k] for k in ALL_FIELDS if data.get(k) is not None}


def project_choices(session, *, passed_only: bool = False) -> list[tuple[int, str]]:
    stmt = sa.select(CooperationProject).order_by(CooperationProject.name)
    rows = session.scalars(stmt).all()
    return [(pr.id, f"{pr.name} · {pr.partner}") for pr in rows if pr.review_passed or not passed_only]


# ------------------------------------------------------------------ approvals hooks

def _load(session, pk):
    return session.get(Provision, pk)


def _beneficiaries(session, approval) -> set[int]:
    """Whoever registered the provision benefits from its approval (never decides it)."""
    p = session.get(Provision, approval.provision_id) if approval.provision_id else None
    person_id = getattr(getattr(p, "requester", None), "person_id", None)
    return {person_id} if person_id else set()


def _request_check(session, actor, subject: dict) -> None:
    """Any provision approval request (also through the generic approvals API) follows the step order."""
    if actor is not None and not actor.has_role("officer"):
        raise Forbidden(_l("Only a security officer requests provision approvals."))
    p = session.get(Provision, subject["provision_id"])
    rules.check_may_request_approval(p, p.project)


def register_hooks() -> None:
    from registry.approvals import rules as approval_rules
    from registry.approvals import services as approvals

    approvals.SUBJECT_LOADERS["provision_id"] = _load
    approval_rules.BENEFICIARIES["provision"] = _beneficiaries
    approvals.REQUEST_CHECKS["provision"] = _request_check


register_hooks()
