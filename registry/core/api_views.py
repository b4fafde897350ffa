"""Core API endpoints: OpenAPI document, audit verification, security events."""

from __future__ import annotations

from datetime import datetime, time, timezone

import sqlalchemy as sa
from flask import request

from registry.core import openapi
from registry.core.api import api_blueprint, doc, paginate, register_schema
from registry.core.auth import public, roles_required
from registry.core.errors import ValidationFailed
from registry.core.security_events import SecurityEvent

bp = api_blueprint("core_api", __name__)

register_schema("AuditVerify", {"type": "object", "required": ["ok"], "properties": {
    "ok": {"type": "boolean"}, "events": {"type": "integer"}, "head": {"type": "string"},
    "head_seq": {"type": "integer"}, "first_bad_seq": {"type": ["integer", "null"]},
    "problem": {"type": ["string", "null"]}}})
register_schema("SecurityEvent", {"type": "object", "properties": {
    "id": {"type": "integer"}, "kind": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
    "reason": {"type": ["string", "null"]}, "actor": {"type": "string"}, "subject": {"type": ["string", "null"]},
    "subject_type": {"type": ["string", "null"]}, "subject_id": {"type": ["integer", "null"]},
    "details": {"type": "object"}}})
register_schema("OpenAPI", {"type": "object"})


@bp.get("/openapi.json")
@public
@doc("This OpenAPI 3.1 document", tags=["meta"], response="OpenAPI", auth=False)
def openapi_json():
    return openapi.build()


@bp.get("/audit/verify")
@roles_required("officer", "inspector")
@doc("Recompute the audit hash chain", tags=["audit"], response="AuditVerify", errors=(422,),
     query=[("checkpoint", "string", "SEQ:HASH printed by `audit checkpoint` or on an export")])
def audit_verify():
    from registry.core import audit
    from registry.core.views import verify_and_report

    checkpoint = None
    if request.args.get("checkpoint"):
        try:
            checkpoint = audit.parse_checkpoint(request.args["checkpoint"])
        except ValueError as exc:
            raise ValidationFailed(details={"checkpoint": [str(exc)]}) from None
    return verify_and_report(checkpoint).as_json()


def _date_arg(name: str, end: bool = False):
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        if "T" in raw:
            value = datetime.fromisoformat(raw)
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        d = datetime.fromisoformat(raw).date()
        return datetime.combine(d, time.max if end else time.min, tzinfo=timezone.utc)
    except ValueError:
        raise ValidationFailed(details={name: ["Use an ISO 8601 date or date-time."]}) from None


@bp.get("/security-events")
@roles_required("officer", "inspector")
@doc("List security events (refusals, anomalies)", tags=["audit"], response="SecurityEvent", list_of=True,
     errors=(422,), query=[("kind", "string", "e.g. checkout_denied, entry_denied"),
                           ("from", "string", "ISO date or date-time"), ("to", "string", "ISO date or date-time")])
def security_events():
    stmt = sa.select(SecurityEvent).order_by(SecurityEvent.id.desc())
    if request.args.get("kind"):
        stmt = stmt.where(SecurityEvent.kind == request.args["kind"][:40])
    start, end = _date_arg("from"), _date_arg("to", end=True)
    if start:
        stmt = stmt.where(SecurityEvent.at >= start)
    if end:
        stmt = stmt.where(SecurityEvent.at <= end)
    return paginate(stmt, SecurityEvent.as_json)
