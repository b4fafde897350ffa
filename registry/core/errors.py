"""One exception family for refused actions. Entry points turn them into flashes, JSON or CLI errors."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    code = "bad_request"
    status = 400
    message = _l("The request could not be processed.")

    def __init__(self, message=None, *, code: str | None = None, status: int | None = None, details=None):
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}
        super().__init__(str(self.message))


class ValidationFailed(DomainError):
    """Input failed validation; details maps field names to lists of messages."""

    code = "validation_error"
    status = 422
    message = _l("Some fields are not valid.")


class NotFound(DomainError):
    code = "not_found"
    status = 404
    message = _l("Not found.")


class NotVisible(NotFound):
    """A record that exists but that the user may not see (need-to-know, another person's).

    Answers exactly like NotFound (same status, code, message, no details: no existence oracle),
    but the entry point records it as an access denial, like a Forbidden."""

    subject = None
    hidden = True  # core.http records an error with `hidden` set as an access denial

    def __init__(self, subject=None):
        super().__init__()
        self.subject = subject


class Conflict(DomainError):
    code = "conflict"
    status = 409
    message = _l("The record was changed or already exists.")


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    message = _l("You are not allowed to do this.")


class RuleViolation(DomainError):
    """A business rule (SPEC §4) refused the action. `code` is the reason code of SPEC §6.

    Services raise it; the entry point records the refusal as a security event (in its own
    transaction, since the refused change is rolled back) and answers with `status`.
    """

    status = 403
    event_kind = "action_denied"
    subject = None  # the model instance the refusal is about (recorded with the event)

    def about(self, subject=None, *, kind: str | None = None, **details) -> "RuleViolation":
        """Attach the subject, the security-event kind and extra details; returns self."""
        if subject is not None:
            self.subject = subject
        if kind:
            self.event_kind = kind
        self.details.update(details)
        return self


# Reason codes with their messages (user-facing, translated) and HTTP status.
REASONS: dict[str, tuple[int, object]] = {
    "asset_unavailable": (409, _l("The item is not available (already checked out, missing or destroyed).")),
    "borrower_inactive": (403, _l("The borrower is not an active person (decommissioning or left).")),
    "clearance_insufficient": (403, _l("The borrower's clearance is below the item's classification level.")),
    "commitment_missing": (403, _l("The borrower has no signed, unexpired secrecy commitment letter.")),
    "not_in_scope": (403, _l("The borrower is not within the item's need-to-know scope.")),
    "approval_required": (403, _l("An approved checkout approval for this item and borrower is required.")),
    "foreign_national": (403, _l("Foreign nationals may not borrow items above Internal.")),
    "due_too_late": (422, _l("The due date exceeds the maximum loan period for this level.")),
    "self_checkout_not_allowed": (403, _l("Self-service checkout is not allowed for this item or borrower.")),
    "device_level_too_low": (403, _l("The connected computer's level is below the storage medium's level.")),
    "downgrade_refused": (403, _l("The level of a computer or storage medium can never be lowered.")),
    "holds_items": (403, _l("The person still holds checked-out items above the new clearance.")),
    "inspection_required": (403, _l("Foreign-supplied equipment must be inspected before it is placed in this room.")),
    "self_approval": (403, _l("An approval cannot be decided by the person who requested it or benefits from it.")),
    "project_review_pending": (403, _l("The cooperation project has not passed its secrecy review.")),
    "agreement_missing": (403, _l("A confidentiality agreement (number and date) is required first.")),
    "witness_invalid": (403, _l("Two distinct witnesses are required, and neither may be the performer.")),
    "visitor_blocked": (403, _l("The visitor is on the block list.")),
    "outside_visit_window": (403, _l("Today is outside the visitor's expected visit window.")),
    "room_forbidden_for_foreigners": (403, _l("Foreign nationals may never enter this room.")),
    "no_permission": (403, _l("The visitor has no valid permission for this room now.")),
    "escort_required": (403, _l("An escort is required for this room.")),
    "escort_not_eligible": (403, _l("The escort is not an active, cleared, non-foreign staff member with sufficient clearance.")),
    "escort_group_full": (403, _l("The escort already accompanies the room's maximum number of visitors.")),
    "already_inside": (409, _l("The visitor is already inside a room.")),
    "not_inside": (409, _l("The visitor is not inside this room.")),
    "label_revoked": (410, _l("This label has been revoked.")),
    "approval_invalid": (409, _l("The approval is not pending or does not match this request.")),
    "not_checked_out": (409, _l("The item is not checked out.")),
    "asset_destroyed": (409, _l("The item has been destroyed and can no longer be changed.")),
    "invalid_transition": (409, _l("This change of state is not allowed.")),
    "secrecy_review_missing": (403, _l("The material has not passed its secrecy review.")),
    "treatment_required": (403, _l("The technical or declassification treatment of the material must be recorded first.")),
}


def violation(code: str, message=None, *, kind: str | None = None, subject=None, **details) -> RuleViolation:
    """Build the RuleViolation for a reason code with its standard message and status."""
    status, default_message = REASONS.get(code, (403, RuleViolation.message))
    exc = RuleViolation(message or default_message, code=code, status=status, details=details)
    return exc.about(subject, kind=kind)
