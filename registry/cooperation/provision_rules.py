"""Rules for providing material to a foreign party (SPEC §4, DOMAIN R18), used alike by pages, API and CLI.

The five steps run in order; each later step checks the earlier ones:
  (1) scope  — the project must have passed its secrecy review (`project_review_pending`);
  (2) secrecy review of the material — passed, or passed on condition of treatment
      (`secrecy_review_missing`);
  (3) technical treatment — required when the review asks for it or when the material is
      marked lower than the registered item it comes from (`treatment_required`);
  (4) approval — level ≥ confidential needs an approved, unused provision approval decided by
      someone independent (`approval_required`; self-approval is refused by the approvals domain);
  (5) agreement — level ≥ confidential needs a confidentiality agreement, number and signing
      date, signed no later than the day of provision (`agreement_missing`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l

from registry.cooperation.provision_models import PASSING_OUTCOMES, Provision, ProvisionStatus, ReviewOutcome, Treatment
from registry.core.errors import violation
from registry.core.models import Level

APPROVAL_FROM = Level.CONFIDENTIAL  # approval and agreement needed from this level up
MANAGE_ROLES = ("officer",)
READ_ROLES = ("officer", "approver", "inspector")
KIND = "provision_denied"  # security-event kind of a refused step


def needs_approval(level) -> bool:
    """Level ≥ confidential needs an approval and a confidentiality agreement before provision."""
    return Level(level) >= APPROVAL_FROM


def check_open(provision: Provision) -> None:
    """A provided or rejected provision is final (`invalid_transition`)."""
    if provision.status in (ProvisionStatus.PROVIDED, ProvisionStatus.REJECTED):
        raise violation("invalid_transition", kind=KIND, subject=provision, status=provision.status.value)


def check_project(project, provision: Provision | None = None) -> None:
    """The cooperation project must have passed its secrecy review (passed or with conditions)."""
    if project is None or not project.review_passed:
        raise violation("project_review_pending", kind=KIND, subject=provision if provision is not None else project,
                        project_id=getattr(project, "id", None),
                        review_status=getattr(getattr(project, "review_status", None), "value", None))


def check_reviewed(provision: Provision) -> None:
    """Step 2: the material's own secrecy review must be recorded with a passing outcome."""
    if provision.review_outcome not in PASSING_OUTCOMES or provision.reviewed_on is None:
        raise violation("secrecy_review_missing", kind=KIND, subject=provision,
                        outcome=provision.review_outcome.value if provision.review_outcome else None)


def treatment_needed(provision: Provision) -> bool:
    """Treatment is needed when the review passed only on condition of it, or when the material is
    marked lower than the registered item it is taken from (脱密处理 must be documented)."""
    if provision.review_outcome == ReviewOutcome.CONDITIONAL:
        return True
    asset = provision.asset
    return asset is not None and Level(provision.level) < Level(asset.level)


def treatment_done(provision: Provision) -> bool:
    return provision.treatment is not None and provision.treatment != Treatment.NONE_NEEDED


def check_treated(provision: Provision) -> None:
    """Step 3: where treatment is needed it must be recorded (`treatment_required`)."""
    if treatment_needed(provision) and not treatment_done(provision):
        raise violation("treatment_required", kind=KIND, subject=provision, level=Level(provision.level).value,
                        asset_level=Level(provision.asset.level).value if provision.asset is not None else None)


def check_may_request_approval(provision: Provision, project) -> None:
    """Steps 1–3 must be complete before the approval (step 4) is requested."""
    check_open(provision)
    check_project(project, provision)
    check_reviewed(provision)
    check_treated(provision)


def check_agreement(provision: Provision, provided_on: date | None = None) -> None:
    """Step 5: number and signing date, signed no later than the day the material is handed over."""
    if not provision.has_agreement:
        raise violation("agreement_missing", kind=KIND, subject=provision)
    if provided_on is not None and provision.agreement_signed_on > provided_on:
        raise violation("agreement_missing", kind=KIND, subject=provision,
                        agreement_signed_on=provision.agreement_signed_on, provided_on=provided_on)


def check_providable(session, provision: Provision, *, provided_on: date | None = None):
    """Every step, in order; returns the approval to consume (None below confidential).

    Order: final state, project review, material review, treatment, approval, agreement."""
    from registry.approvals import rules as approval_rules
    from registry.approvals import services as approvals

    check_open(provision)
    check_project(provision.project, provision)
    check_reviewed(provision)
    check_treated(provision)
    if not needs_approval(provision.level):
        return None
    approval = provision.approval
    if approval is None or not approval_rules.usable(session, approval, "provision", {"provision_id": provision.id}):
        approval = approvals.find_usable(session, "provision", provision_id=provision.id)
    if approval is None:
        raise violation("approval_required", _l("An approved provision approval is required first."), kind=KIND,
                        subject=provision, approval_id=provision.approval_id)
    check_agreement(provision, provided_on)
    return approval


# ------------------------------------------------------------------ supervision (the register's checks)

@dataclass(frozen=True)
class Flag:
    """A supervision finding on a provision: `bad` (a rule is broken or a step missing) or `todo`."""

    code: str
    label: object
    severity: str = "todo"


def supervision_flags(provision: Provision) -> list[Flag]:
    """What an inspector would point at: missing or failed steps, in step order.

    A provided provision lacking a step it needed (e.g. imported from an old register) is `bad`."""
    flags: list[Flag] = []
    final = provision.status == ProvisionStatus.PROVIDED
    sev = "bad" if final else "todo"
    project = provision.project
    if project is None or not project.review_passed:
        flags.append(Flag("project_review_pending", _l("Project review not passed"), "bad"))
    if provision.review_outcome == ReviewOutcome.REJECTED:
        flags.append(Flag("review_rejected", _l("Secrecy review: must not be provided"), "bad"))
    elif provision.review_outcome is None:
        flags.append(Flag("secrecy_review_missing", _l("No secrecy review"), sev))
    if treatment_needed(provision) and not treatment_done(provision):
        flags.append(Flag("treatment_required", _l("Treatment not recorded"), sev))
    if needs_approval(provision.level):
        current = provision.current_approval
        if not provision.approval_granted:
            if current is not None and current.status.value == "pending":
                flags.append(Flag("approval_pending", _l("Approval pending"), "todo"))
            elif current is not None and current.status.value == "rejected":
                flags.append(Flag("approval_rejected", _l("Approval rejected"), "bad"))
            else:
                flags.append(Flag("approval_required", _l("No approval"), sev))
        if not provision.has_agreement:
            flags.append(Flag("agreement_missing", _l("No confidentiality agreement"), sev))
        elif final and provision.provided_on and provision.agreement_signed_on > provision.provided_on:
            flags.append(Flag("agreement_late", _l("Agreement signed after provision"), "bad"))
    return flags


def can_manage(user) -> bool:
    return user is None or user.has_role(*MANAGE_ROLES)
