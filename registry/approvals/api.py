"""Approval endpoints of the JSON API (SPEC §6)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from registry.approvals import services
from registry.approvals.forms import ApprovalForm, DecisionForm
from registry.approvals.models import ApprovalKind, ApprovalStatus
from registry.core.api import api_blueprint, bool_arg, doc, int_arg, json_body, paginate, register_schema, validate_with
from registry.core.auth import roles_required
from registry.core.errors import NotFound, ValidationFailed
from registry.extensions import db

bp = api_blueprint("approvals_api", __name__)

_id = {"type": ["integer", "null"]}
_ts = {"type": ["string", "null"], "format": "date-time"}
register_schema("Approval", {"type": "object", "properties": {
    "id": {"type": "integer"}, "kind": {"type": "string", "enum": ApprovalKind.values()},
    "status": {"type": "string", "enum": ApprovalStatus.values()}, "asset_id": _id, "borrower_id": _id,
    "visitor_id": _id, "room_id": _id, "provision_id": _id, "asset_ids": {"type": "array", "items": {"type": "integer"}},
    "purpose": {"type": "string"}, "details": {"type": "object"}, "requested_by": _id, "requested_at": _ts,
    "decided_by": _id, "decided_at": _ts, "reason": {"type": "string"}, "used_at": _ts,
    "used_for": {"type": ["string", "null"]}}})

REQUESTERS = ("officer", "staff", "approver")
READERS = ("officer", "staff", "approver", "inspector")


def _enum_arg(name, enum_cls):
    value = request.args.get(name)
    if value and value not in enum_cls.values():
        raise ValidationFailed(details={name: [f"one of: {', '.join(enum_cls.values())}"]})
    return value or None


def _visible(approval_id: int):
    return services.visible_approval(db.session, current_user, approval_id)


@bp.post("/approvals")
@roles_required(*REQUESTERS)
@doc("Request an approval", tags=["approvals"], body=ApprovalForm, response="Approval", status=201,
     errors=(409,))
def create_approval():
    form = validate_with(ApprovalForm, json_body())
    approval = services.request_approval(db.session, kind=form.kind.data, actor=current_user,
                                         purpose=form.purpose.data, details=form.details(), **form.subject())
    db.session.commit()
    return services.serialize(approval), 201


@bp.get("/approvals")
@roles_required(*READERS)
@doc("List approvals (pending first); staff see their own", tags=["approvals"], response="Approval", list_of=True,
     errors=(422,), query=[("kind", "string", "checkout | area_permission | provision | destruction | copy"),
                           ("status", "string", "pending | approved | rejected | used | cancelled"),
                           ("asset_id", "integer", ""), ("borrower_id", "integer", ""),
                           ("mine", "boolean", "only requests I made or that are for me")])
def list_approvals():
    stmt = services.approvals_query(current_user, kind=_enum_arg("kind", ApprovalKind),
                                    status=_enum_arg("status", ApprovalStatus), asset_id=int_arg("asset_id"),
                                    borrower_id=int_arg("borrower_id"), mine=bool(bool_arg("mine")))
    return paginate(stmt, services.serialize)


@bp.get("/approvals/<int:approval_id>")
@roles_required(*READERS)
@doc("Read an approval", tags=["approvals"], response="Approval")
def get_approval(approval_id):
    return services.serialize(_visible(approval_id))


@bp.post("/approvals/<int:approval_id>/decision")
@roles_required("approver")
@doc("Approve or reject a pending approval (never one's own or one that benefits oneself)", tags=["approvals"],
     body=DecisionForm, response="Approval", errors=(409,))
def decide(approval_id):
    approval = services.get_approval(db.session, approval_id)
    form = validate_with(DecisionForm, json_body())
    services.decide(db.session, approval, decision=form.decision.data, reason=form.reason.data or "",
                    actor=current_user)
    db.session.commit()
    return services.serialize(approval)


@bp.post("/approvals/<int:approval_id>/cancel")
@roles_required(*REQUESTERS)
@doc("Withdraw a pending or approved, unused approval", tags=["approvals"], response="Approval", errors=(409,))
def cancel(approval_id):
    approval = _visible(approval_id)
    services.cancel(db.session, approval, actor=current_user)
    db.session.commit()
    return services.serialize(approval)
