"""Rooms endpoints of the JSON API (SPEC §6)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from registry.areas import services
from registry.areas.forms import RoomForm
from registry.areas.models import ForeignPolicy
from registry.core.api import api_blueprint, doc, json_body, paginate, register_schema, validate_with
from registry.core.auth import READ_REGISTERS, roles_required
from registry.core.errors import ValidationFailed
from registry.core.models import Level
from registry.extensions import db

bp = api_blueprint("areas_api", __name__)

register_schema("Room", {"type": "object", "properties": {
    "id": {"type": "integer"}, "code": {"type": "string"}, "name": {"type": "string"},
    "location": {"type": "string"}, "level": {"type": "string", "enum": Level.values()},
    "foreign_policy": {"type": "string", "enum": ForeignPolicy.values()},
    "max_visitors_per_escort": {"type": "integer"}, "label_code": {"type": ["string", "null"]},
    "protection": {"type": "string"}, "responsible_id": {"type": ["integer", "null"]}}})


def _enum_arg(name, enum_cls):
    value = request.args.get(name)
    if value and value not in enum_cls.values():
        raise ValidationFailed(details={name: [f"one of: {', '.join(enum_cls.values())}"]})
    return value or None


@bp.get("/rooms")
@roles_required(*READ_REGISTERS, "guard")
@doc("List rooms", tags=["rooms"], response="Room", list_of=True, errors=(422,), query=[
    ("q", "string", "search code, name, location"), ("level", "string", "classification level"),
    ("foreign_policy", "string", "forbidden | escorted | open"), ("sort", "string", "code, name, level, -code …")])
def list_rooms():
    stmt = services.rooms_query(q=request.args.get("q"), level=_enum_arg("level", Level),
                                foreign_policy=_enum_arg("foreign_policy", ForeignPolicy), sort=request.args.get("sort"))
    return paginate(stmt, services.serialize)


@bp.post("/rooms")
@roles_required("officer")
@doc("Register a room", tags=["rooms"], body=RoomForm, response="Room", status=201)
def create_room():
    form = validate_with(RoomForm, json_body())
    room = services.create_room(db.session, form.data, actor=current_user)
    db.session.commit()
    return services.serialize(room), 201


@bp.get("/rooms/<int:room_id>")
@roles_required(*READ_REGISTERS, "guard")
@doc("Read a room", tags=["rooms"], response="Room")
def get_room(room_id):
    return services.serialize(services.get_room(db.session, room_id))


@bp.patch("/rooms/<int:room_id>")
@roles_required("officer")
@doc("Edit a room (partial)", tags=["rooms"], body=RoomForm, response="Room")
def update_room(room_id):
    room = services.get_room(db.session, room_id)
    base = {k: v for k, v in services.serialize(room).items() if k in services.ROOM_FIELDS}
    form = validate_with(RoomForm, json_body(), base=base)
    services.update_room(db.session, room, form.data, actor=current_user)
    db.session.commit()
    return services.serialize(room)
