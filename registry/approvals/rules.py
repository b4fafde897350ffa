"""Approval rules: who may request, read and decide, no self-approval, and what makes an approval usable.

Other domains plug in without editing this file (see also services.SUBJECT_LOADERS and
services.REQUEST_CHECKS):
- BENEFICIARIES[kind] = fn(session, approval) -> set of person ids who benefit from it (the
  borrower of a checkout always does; visits adds the visitor's host).
- SUBJECT_LABELS[field] = fn(session, value) -> str, how the inbox names a visitor or a provision.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from registry.approvals.models import Approval, ApprovalKind, ApprovalStatus
from registry.core.errors import Forbidden, violation

BENEFICIARIES: dict[str, object] = {}
SUBJECT_LABELS: dict[str, object] = {}

DECIDER_ROLES = ("approver",)  # admin passes every role gate
REQUESTER_ROLES = ("officer", "approver", "staff")
READ_ALL_ROLES = ("officer", "approver", "inspector")
STAFF_KINDS = ("checkout", "copy")


def _kind(kind) -> str:
    return kind.value if isinstance(kind, ApprovalKind) else str(kind)


def can_read(user, approval: Approval) -> bool:
    """Officers, approvers and inspectors read every approval; others their own requests and those for them."""
    if user.has_role(*READ_ALL_ROLES):
        return True
    return approval.requested_by == user.id or (
        user.person_id is not None and approval.borrower_id == user.person_id)


def check_kind(user, kind) -> None:
    """Guards and inspectors request nothing; staff request checkouts and copies only. Checked before
    the subject is looked at, so that a refused kind answers alike whatever the subject names."""
    if user is None:
        return  # the console (CLI) acts for the office
    if not user.has_role(*REQUESTER_ROLES):
        raise Forbidden()
    if not user.has_role("officer", "approver") and _kind(kind) not in STAFF_KINDS:
        raise Forbidden()


def check_request(user, kind, subject: dict) -> None:
    """Guards and inspectors request nothing; staff request checkouts only for themselves, and copies."""
    check_kind(user, kind)
    if user is None or user.has_role("officer", "approver"):
        return
    kind = _kind(kind)
    if kind == "checkout" and subject.get("borrower_id") != user.person_id:
        raise Forbidden(_l("Staff may request checkout approvals only for themselves."))


def beneficiaries(session, approval: Approval) -> set[int]:
    """Person ids who benefit from the approval: the borrower, plus what the kind's hook names."""
    found: set[int] = set()
    if approval.borrower_id:
        found.add(approval.borrower_id)
    hook = BENEFICIARIES.get(_kind(approval.kind))
    if hook is not None:
        found |= {p for p in (hook(session, approval) or ()) if p}
    return found


def is_self_approval(session, approval: Approval, decider) -> bool:
    """The decider requested the approval, or the decider's person benefits from it."""
    if decider is None:
        return False
    if approval.requested_by is not None and approval.requested_by == decider.id:
        return True
    return decider.person_id is not None and decider.person_id in beneficiaries(session, approval)


def check_may_decide(session, approval: Approval, decider) -> None:
    """Only approvers (and admin) decide, only pending approvals, never their own (`self_approval`)."""
    if decider is None or not decider.has_role(*DECIDER_ROLES):
        raise Forbidden(_l("Only an approver may decide approvals."))
    if approval.status != ApprovalStatus.PENDING:
        raise violation("approval_invalid", kind="approval_denied", subject=approval, approval_id=approval.id,
                        status=approval.status.value)
    if is_self_approval(session, approval, decider):
        raise violation("self_approval", kind="approval_denied", subject=approval, approval_id=approval.id)


def matches(approval: Approval, kind, subject: dict) -> bool:
    """The approval is of `kind` and names exactly these subject values."""
    if _kind(approval.kind) != _kind(kind):
        return False
    for name, value in subject.items():
        current = getattr(approval, name)
        if name == "asset_ids":
            if sorted(current or []) != sorted(int(v) for v in (value or [])):
                return False
        elif current != value:
            return False
    return True


def usable(session, approval: Approval, kind, subject: dict) -> bool:
    """Approved, not used, matching the subject, and decided independently: by neither the
    requester nor a beneficiary (re-checked at use, whatever happened at decision time)."""
    if approval.status != ApprovalStatus.APPROVED or not matches(approval, kind, subject):
        return False
    if approval.decided_by is None or approval.decided_by == approval.requested_by:
        return False
    decider = approval.decider
    return not (decider is not None and decider.person_id is not None
                and decider.person_id in beneficiaries(session, approval))
