"""Visitors, area permissions, visits and room occupants in the JSON API (SPEC §6)."""

from __future__ import annotations

from datetime import datetime, time, timezone

from flask import request
from flask_login import current_user

from registry.areas.services import get_room
from registry.core.api import api_blueprint, bool_arg, doc, int_arg, json_body, paginate, register_schema, validate_with
from registry.core.auth import READ_REGISTERS, roles_required
from registry.core.errors import ValidationFailed
from registry.core.models import utcnow
from registry.extensions import db
from registry.people.services import get_person
from registry.visits import services
from registry.visits.forms import EntryForm, PermissionForm, VisitorForm, parse_devices
from registry.visits.models import DeviceDisposition, DeviceKind, IdDocType

bp = api_blueprint("visits_api", __name__)

GATE = ("guard", "officer")            # the guard station: entries and exits
LOOKUP = (*READ_REGISTERS, "guard")    # who may look visitors up (document numbers masked but for officers)

_date = {"type": ["string", "null"], "format": "date"}
_time = {"type": ["string", "null"], "format": "date-time"}
_int = {"type": ["integer", "null"]}
register_schema("Visitor", {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "name_alt": {"type": "string"},
    "nationality": {"type": "string"}, "foreign": {"type": "boolean"},
    "id_doc_type": {"type": "string", "enum": IdDocType.values()},
    "id_doc_no": {"type": "string", "description": "masked to the last 4 characters except for officers"},
    "organization": {"type": "string"}, "position": {"type": "string"}, "purpose": {"type": "string"},
    "host_id": _int, "project_id": _int, "arrives_on": _date, "departs_on": _date,
    "badge_code": {"type": ["string", "null"]}, "blocked": {"type": "boolean"}, "blocked_reason": {"type": "string"},
    "blocked_at": _time, "notes": {"type": "string"}}})
register_schema("Permission", {"type": "object", "properties": {
    "id": {"type": "integer"}, "visitor_id": {"type": "integer"}, "room_id": {"type": "integer"},
    "valid_from": _time, "valid_until": _time, "escort_required": {"type": "boolean"}, "approval_id": _int,
    "revoked_at": _time, "note": {"type": "string"}, "granted_by": {"type": "string"},
    "revoke_reason": {"type": "string"}}})
_device = {"type": "object", "required": ["kind"], "additionalProperties": False, "properties": {
    "kind": {"type": "string", "enum": DeviceKind.values()},
    "disposition": {"type": "string", "enum": DeviceDisposition.values(), "default": "deposited"},
    "note": {"type": "string", "maxLength": 200}}}
register_schema("Visit", {"type": "object", "properties": {
    "id": {"type": "integer"}, "visitor_id": {"type": "integer"}, "room_id": {"type": "integer"},
    "escort_id": _int, "entered_at": _time, "exited_at": _time, "devices": {"type": "array", "items": _device},
    "permission_id": _int, "logged_by": {"type": "string"}, "exit_logged_by": {"type": "string"},
    "note": {"type": "string"}}})

ENTRY_BODY = {"type": "object", "required": ["visitor_id", "room_id"], "additionalProperties": False, "properties": {
    "visitor_id": {"type": "integer"}, "room_id": {"type": "integer"}, "escort_id": _int,
    "devices": {"type": "array", "items": _device, "maxItems": 20}, "note": {"type": "string", "maxLength": 500}}}
ENTRY_ERRORS = (403, 404, 409, 422)  # 404: unknown visitor, room or escort


def _ser(visitor):
    return services.serialize_visitor(visitor, current_user)


def _time_arg(name: str, end: bool = False):
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        if "T" in raw:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return datetime.combine(datetime.fromisoformat(raw).date(), time.max if end else time.min, tzinfo=timezone.utc)
    except ValueError:
        raise ValidationFailed(details={name: ["Use an ISO 8601 date or date-time."]}) from None


# ---------------------------------------------------------------- visitors

@bp.get("/visitors")
@roles_required(*LOOKUP)
@doc("List visitors", tags=["visitors"], response="Visitor", list_of=True, errors=(422,), query=[
    ("q", "string", "name, second-script name, organisation; or an exact document number"),
    ("foreign", "boolean", ""), ("blocked", "boolean", "the block list"), ("inside", "boolean", "inside a room now"),
    ("project_id", "integer", ""), ("host_id", "integer", ""),
    ("sort", "string", "name, organization, nationality, arrives_on, departs_on, -created_at …")])
def list_visitors():
    stmt = services.visitors_query(q=request.args.get("q"), foreign=bool_arg("foreign"), blocked=bool_arg("blocked"),
                                   inside=bool_arg("inside"), project_id=int_arg("project_id"),
                                   host_id=int_arg("host_id"), sort=request.args.get("sort"))
    return paginate(stmt, _ser)


@bp.post("/visitors")
@roles_required("officer")
@doc("Register a visitor (a badge code is issued)", tags=["visitors"], body=VisitorForm, response="Visitor",
     status=201, errors=(422,))
def create_visitor():
    form = validate_with(VisitorForm, json_body())
    visitor = services.create_visitor(db.session, form.data, actor=current_user)
    db.session.commit()
    return _ser(visitor), 201


@bp.get("/visitors/<int:visitor_id>")
@roles_required(*LOOKUP)
@doc("Read a visitor", tags=["visitors"], response="Visitor")
def get_visitor(visitor_id):
    return _ser(services.get_visitor(db.session, visitor_id))


@bp.patch("/visitors/<int:visitor_id>")
@roles_required("officer")
@doc("Edit a visitor (partial); blocked + blocked_reason put a visitor on the block list", tags=["visitors"],
     body=VisitorForm, response="Visitor", errors=(422,))
def update_visitor(visitor_id):
    visitor = services.get_visitor(db.session, visitor_id)
    form = validate_with(VisitorForm, json_body(), base=services.visitor_form_values(visitor))
    services.update_visitor(db.session, visitor, form.data, actor=current_user)
    db.session.commit()
    return _ser(visitor)


@bp.post("/visitors/<int:visitor_id>/badge")
@roles_required("officer")
@doc("Reissue the visitor's badge (the old code is revoked)", tags=["visitors"], response="Visitor", status=201)
def reissue_badge(visitor_id):
    visitor = services.get_visitor(db.session, visitor_id)
    services.reissue_badge(db.session, visitor, actor=current_user, reason="reissued via API")
    db.session.commit()
    return _ser(visitor), 201


# ---------------------------------------------------------------- permissions

@bp.get("/visitors/<int:visitor_id>/permissions")
@roles_required(*LOOKUP)
@doc("A visitor's area permissions", tags=["permissions"], response="Permission", list_of=True, errors=(422,),
     query=[("active", "boolean", "only those covering now")])
def visitor_permissions(visitor_id):
    visitor = services.get_visitor(db.session, visitor_id)
    active = bool_arg("active")
    stmt = services.permissions_query(visitor_id=visitor.id, active_at=utcnow() if active else None)
    return paginate(stmt, services.serialize_permission)


@bp.post("/visitors/<int:visitor_id>/permissions")
@roles_required("officer")
@doc("Give a visitor a permission for a room (foreign visitor, level ≥ confidential: an approved "
     "area_permission approval is needed and consumed)", tags=["permissions"], body=PermissionForm,
     response="Permission", status=201, errors=(403, 409, 422))
def grant_permission(visitor_id):
    visitor = services.get_visitor(db.session, visitor_id)
    body = json_body()
    body.setdefault("escort_required", True)
    form = validate_with(PermissionForm, body)
    room = get_room(db.session, form.room_id.data)
    permission = services.grant_permission(db.session, visitor, room, form.data, actor=current_user)
    db.session.commit()
    return services.serialize_permission(permission), 201


@bp.get("/permissions")
@roles_required(*LOOKUP)
@doc("List area permissions", tags=["permissions"], response="Permission", list_of=True, errors=(422,), query=[
    ("visitor_id", "integer", ""), ("room_id", "integer", ""), ("active", "boolean", "only those covering now"),
    ("revoked", "boolean", "false hides revoked permissions")])
def list_permissions():
    active = bool_arg("active")
    stmt = services.permissions_query(visitor_id=int_arg("visitor_id"), room_id=int_arg("room_id"),
                                      active_at=utcnow() if active else None,
                                      include_revoked=bool_arg("revoked") is not False)
    return paginate(stmt, services.serialize_permission)


@bp.get("/permissions/<int:permission_id>")
@roles_required(*LOOKUP)
@doc("Read an area permission", tags=["permissions"], response="Permission")
def get_permission(permission_id):
    return services.serialize_permission(services.get_permission(db.session, permission_id))


@bp.delete("/permissions/<int:permission_id>")
@roles_required("officer")
@doc("Revoke an area permission (sets revoked_at; the record stays)", tags=["permissions"], response="Permission")
def revoke_permission(permission_id):
    permission = services.get_permission(db.session, permission_id)
    body = json_body(allow_empty=True)
    reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
    services.revoke_permission(db.session, permission, actor=current_user, reason=reason)
    db.session.commit()
    return services.serialize_permission(permission)


@bp.get("/rooms/<int:room_id>/permissions")
@roles_required(*LOOKUP)
@doc("Area permissions for a room", tags=["permissions"], response="Permission", list_of=True, errors=(422,),
     query=[("active", "boolean", "only those covering now")])
def room_permissions(room_id):
    room = get_room(db.session, room_id)
    active = bool_arg("active")
    stmt = services.permissions_query(room_id=room.id, active_at=utcnow() if active else None)
    return paginate(stmt, services.serialize_permission)


# ---------------------------------------------------------------- visits

@bp.post("/visits")
@roles_required(*GATE)
@doc("Log a visitor's entry into a room; 403/409 with the reason code of the first failed check",
     tags=["visits"], body=ENTRY_BODY, response="Visit", status=201, errors=ENTRY_ERRORS)
def enter():
    body = json_body()
    devices = parse_devices(body.get("devices"))
    form = validate_with(EntryForm, {k: v for k, v in body.items() if k != "devices"})
    visitor = services.get_visitor(db.session, form.visitor_id.data)
    room = get_room(db.session, form.room_id.data)
    escort = get_person(db.session, form.escort_id.data) if form.escort_id.data else None
    visit = services.enter(db.session, visitor, room, escort=escort, devices=devices, note=form.note.data,
                           actor=current_user)
    db.session.commit()
    return services.serialize_visit(visit), 201


@bp.post("/visits/<int:visit_id>/exit")
@roles_required(*GATE)
@doc("Log the exit of an open visit (409 not_inside when it is closed)", tags=["visits"], response="Visit",
     errors=(409,))
def exit_visit(visit_id):
    visit = services.get_visit(db.session, visit_id)
    services.exit_visit(db.session, visit, actor=current_user)
    db.session.commit()
    return services.serialize_visit(visit)


@bp.get("/visits")
@roles_required(*LOOKUP)
@doc("The entry log", tags=["visits"], response="Visit", list_of=True, errors=(422,), query=[
    ("open", "boolean", "true: inside now; false: closed"), ("visitor_id", "integer", ""), ("room_id", "integer", ""),
    ("escort_id", "integer", ""), ("from", "string", "ISO date or date-time (entered at)"),
    ("to", "string", "ISO date or date-time")])
def list_visits():
    stmt = services.visits_query(visitor_id=int_arg("visitor_id"), room_id=int_arg("room_id"),
                                 escort_id=int_arg("escort_id"), open_only=bool_arg("open"),
                                 start=_time_arg("from"), end=_time_arg("to", end=True))
    return paginate(stmt, services.serialize_visit)


@bp.get("/visits/<int:visit_id>")
@roles_required(*LOOKUP)
@doc("Read a visit", tags=["visits"], response="Visit")
def get_visit(visit_id):
    return services.serialize_visit(services.get_visit(db.session, visit_id))


@bp.get("/rooms/<int:room_id>/occupants")
@roles_required(*LOOKUP)
@doc("Open visits in the room (who is inside now)", tags=["visits"], response="Visit", list_of=True)
def occupants(room_id):
    room = get_room(db.session, room_id)
    items = [services.serialize_visit(v) for v in services.occupants(db.session, room)]
    return {"items": items, "total": len(items), "page": 1, "per_page": max(len(items), 1)}
