"""Provision endpoints of the JSON API (SPEC §6): GET, POST /api/v1/provisions; POST /provisions/<id>/provided;
and the steps of the procedure (PATCH, /approval, /reject)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from registry.cooperation import provision_rules as rules
from registry.cooperation import provision_services as services
from registry.cooperation.provision_forms import ApprovalRequestForm, ProvidedForm, ProvisionApiForm, RejectForm
from registry.cooperation.provision_models import ProvisionStatus
from registry.core.api import api_blueprint, doc, int_arg, json_body, paginate, register_schema, validate_with
from registry.core.auth import roles_required
from registry.core.errors import ValidationFailed
from registry.core.models import Level
from registry.extensions import db

bp = api_blueprint("provisions_api", __name__)

_date = {"type": ["string", "null"], "format": "date"}
_id = {"type": ["integer", "null"]}
_str = {"type": ["string", "null"]}
register_schema("Provision", {"type": "object", "properties": {
    "id": {"type": "integer"}, "project_id": {"type": "integer"}, "material": {"type": "string"}, "asset_id": _id,
    "level": {"type": "string", "enum": Level.values()}, "copies": {"type": "integer"},
    "recipient": {"type": "string"}, "recipient_country": {"type": "string"}, "purpose": {"type": "string"},
    "legal_basis": {"type": "string"}, "reviewer_id": _id, "reviewed_on": _date, "review_outcome": _str,
    "review_conclusion": {"type": "string"}, "treatment": _str, "treated_on": _date,
    "treatment_note": {"type": "string"}, "approval_id": _id, "approval_status": _str, "agreement_no": _str,
    "agreement_signed_on": _date, "agreement_parties": {"type": "string"}, "provided_on": _date,
    "status": {"type": "string", "enum": ProvisionStatus.values()}, "rejected_reason": _str,
    "flags": {"type": "array", "items": {"type": "string"}}}})


def _enum_arg(name, values):
    value = request.args.get(name)
    if value and value not in values:
        raise ValidationFailed(details={name: [f"one of: {', '.join(values)}"]})
    return value or None


@bp.get("/provisions")
@roles_required(*rules.READ_ROLES)
@doc("List provisions to foreign parties (newest first)", tags=["provisions"], response="Provision", list_of=True,
     errors=(422,), query=[("q", "string", "search material, recipient, agreement number, project"),
                           ("status", "string", "requested | approved | provided | rejected"),
                           ("project_id", "integer", ""), ("level", "string", "classification level")])
def list_provisions():
    stmt = services.provisions_query(q=request.args.get("q"), status=_enum_arg("status", ProvisionStatus.values()),
                                     project_id=int_arg("project_id"), level=_enum_arg("level", Level.values()))
    return paginate(stmt, services.serialize)


@bp.post("/provisions")
@roles_required(*rules.MANAGE_ROLES)
@doc("Register a provision (scope; optionally review, treatment, agreement, approval_id)", tags=["provisions"],
     body=ProvisionApiForm, response="Provision", status=201, errors=(403, 422))
def create_provision():
    form = validate_with(ProvisionApiForm, json_body())
    p = services.create_provision(db.session, form.data, actor=current_user)
    db.session.commit()
    return services.serialize(p), 201


@bp.get("/provisions/<int:provision_id>")
@roles_required(*rules.READ_ROLES)
@doc("Read a provision with its steps and supervision flags", tags=["provisions"], response="Provision")
def get_provision(provision_id):
    return services.serialize(services.get_provision(db.session, provision_id))


@bp.patch("/provisions/<int:provision_id>")
@roles_required(*rules.MANAGE_ROLES)
@doc("Record steps of the procedure (scope corrections, secrecy review, treatment, agreement, approval_id)",
     tags=["provisions"], body=ProvisionApiForm, response="Provision", errors=(403, 409, 422))
def update_provision(provision_id):
    p = services.get_provision(db.session, provision_id)
    form = validate_with(ProvisionApiForm, json_body(), base=services.form_values(p))
    services.apply_steps(db.session, p, form.data, actor=current_user)
    db.session.commit()
    return services.serialize(p)


@bp.post("/provisions/<int:provision_id>/approval")
@roles_required(*rules.MANAGE_ROLES)
@doc("Request the provision approval (step 4; steps 1–3 must be complete)", tags=["provisions"],
     body=ApprovalRequestForm, response="Approval", status=201, errors=(403, 409))
def request_approval(provision_id):
    from registry.approvals.services import serialize as serialize_approval

    p = services.get_provision(db.session, provision_id)
    form = validate_with(ApprovalRequestForm, json_body(allow_empty=True))
    approval = services.request_approval(db.session, p, actor=current_user, purpose=form.purpose.data or "")
    db.session.commit()
    return serialize_approval(approval), 201


@bp.post("/provisions/<int:provision_id>/provided")
@roles_required(*rules.MANAGE_ROLES)
@doc("Mark the material provided (refused until every step is complete: project_review_pending, "
     "secrecy_review_missing, treatment_required, approval_required, agreement_missing)", tags=["provisions"],
     body=ProvidedForm, response="Provision", errors=(403, 409, 422))
def mark_provided(provision_id):
    p = services.get_provision(db.session, provision_id)
    form = validate_with(ProvidedForm, json_body(allow_empty=True))
    services.mark_provided(db.session, p, actor=current_user, provided_on=form.provided_on.data)
    db.session.commit()
    return services.serialize(p)


@bp.post("/provisions/<int:provision_id>/reject")
@roles_required(*rules.MANAGE_ROLES)
@doc("End an open provision as rejected", tags=["provisions"], body=RejectForm, response="Provision",
     errors=(409, 422))
def reject(provision_id):
    p = services.get_provision(db.session, provision_id)
    form = validate_with(RejectForm, json_body())
    services.reject_provision(db.session, p, actor=current_user, reason=form.reason.data)
    db.session.commit()
    return services.serialize(p)
