"""Who may decide an approval, who benefits from it, and whether an approval fits a request.

Pure predicates over loaded objects; services.py re-checks them before changing anything.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from registry.approvals.models import Approval, ApprovalStatus
from registry.core.errors import Forbidden, violation

DECIDER_ROLES = ("approver",)  # admin passes every role gate (User.has_role)

# kind -> callable(session, approval) -> set of person ids who benefit from the approval.
# The borrower of a checkout benefits; other domains add theirs (e.g. a visitor's host).
BENEFICIARIES: dict[str, object] = {}


def beneficiary_person_ids(session, approval: Approval) -> set[int]:
    """Persons the approval benefits: the borrower, the requester's own person, and what the kind adds."""
    ids: set[int] = set()
    if approval.borrower_id:
        ids.add(approval.borrower_id)
    if approval.requester is not None and approval.requester.person_id:
        ids.add(approval.requester.person_id)
    extra = BENEFICIARIES.get(approval.kind.value)
    if extra is not None:
        ids |= set(extra(session, approval) or ())
    return ids


def is_self_approval(session, approval: Approval, user) -> bool:
    """True when `user` requested the approval or is (linked to) a person it benefits."""
    if user is None:
        return False
    if approval.requested_by is not None and approval.requested_by == user.id:
        return True
    return bool(user.person_id) and user.person_id in beneficiary_person_ids(session, approval)


def check_may_decide(session, approval: Approval, user) -> None:
    """Raise unless `user` may decide this approval now: an approver (or admin), not the
    requester or a beneficiary (`self_approval`), and the approval still pending."""
    if user is None or not user.has_role(*DECIDER_ROLES):
        raise Forbidden(_l("Only an approver may decide approval requests."))
    if is_self_approval(session, approval, user):
        raise violation("self_approval", kind="approval_denied", subject=approval,
                        approval_id=approval.id, approval_kind=approval.kind.value)
    if approval.status != ApprovalStatus.PENDING:
        raise violation("approval_invalid", kind="approval_denied", subject=approval,
                        approval_id=approval.id, status=approval.status.value)


def decided_independently(session, approval: Approval) -> bool:
    """Defence in depth for consumers: the decider is neither the requester nor a beneficiary."""
    return approval.decider is not None and not is_self_approval(session, approval, approval.decider)


def matches(approval: Approval, kind: str, subject: dict) -> bool:
    """Whether the approval is of `kind` and names exactly the given subject values."""
    if approval.kind.value != kind:
        return False
    for key, value in subject.items():
        current = getattr(approval, key)
        if key == "asset_ids":
            if sorted(current or []) != sorted(value or []):
                return False
        elif current != value:
            return False
    return True


def usable(session, approval: Approval | None, kind: str, subject: dict) -> bool:
    """Approved, unused, for this subject, and decided by someone independent."""
    return (approval is not None and approval.status == ApprovalStatus.APPROVED
            and matches(approval, kind, subject) and decided_independently(session, approval))
