"""People endpoints of the JSON API (SPEC §6)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from registry.core.api import api_blueprint, doc, json_body, paginate, register_schema, validate_with
from registry.core.auth import READ_REGISTERS, roles_required
from registry.core.settings import get_settings
from registry.extensions import db
from registry.people import services
from registry.people.forms import PersonForm, ReminderForm, TrainingForm

bp = api_blueprint("people_api", __name__)

_date = {"type": ["string", "null"], "format": "date"}
register_schema("Person", {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "employee_no": {"type": "string"},
    "department": {"type": "string"}, "position": {"type": "string"}, "nationality": {"type": "string"},
    "category": {"type": "string", "enum": ["core", "important", "general", "none"]},
    "clearance": {"type": "string"}, "commitment_signed_on": _date, "commitment_expires_on": _date,
    "status": {"type": "string", "enum": ["active", "decommissioning", "left"]}, "decommission_until": _date,
    "phone": {"type": "string"}, "notes": {"type": "string"}}})
register_schema("Training", {"type": "object", "properties": {
    "id": {"type": "integer"}, "person_id": {"type": "integer"}, "date": {"type": "string", "format": "date"},
    "course": {"type": "string"}, "hours": {"type": "number"}}})
register_schema("Reminder", {"type": "object", "properties": {
    "id": {"type": "integer"}, "person_id": {"type": "integer"}, "date": {"type": "string", "format": "date"},
    "occasion": {"type": "string"}, "given_by": {"type": ["integer", "null"]}, "description": {"type": "string"},
    "acknowledged": {"type": "boolean"}}})


def _ser(p):
    return services.serialize(p, get_settings()["home_country"])


@bp.get("/people")
@roles_required(*READ_REGISTERS)
@doc("List people", tags=["people"], response="Person", list_of=True, errors=(422,), query=[
    ("q", "string", "search name, employee number, department, position"), ("department", "string", ""),
    ("category", "string", "core | important | general | none"), ("status", "string", "active | decommissioning | left"),
    ("nationality", "string", "ISO 3166 alpha-2"), ("sort", "string", "name, employee_no, department, -name …")])
def list_people():
    a = request.args
    stmt = services.people_query(q=a.get("q"), department=a.get("department"), category=_enum_arg("category"),
                                 status=_enum_arg("status"), nationality=a.get("nationality"), sort=a.get("sort"))
    return paginate(stmt, _ser)


def _enum_arg(name):
    from registry.core.errors import ValidationFailed
    from registry.core.models import Category
    from registry.people.models import PersonStatus

    value = request.args.get(name)
    if not value:
        return None
    allowed = {"category": Category, "status": PersonStatus}[name].values()
    if value not in allowed:
        raise ValidationFailed(details={name: [f"one of: {', '.join(allowed)}"]})
    return value


@bp.post("/people")
@roles_required("officer")
@doc("Register a person", tags=["people"], body=PersonForm, response="Person", status=201)
def create_person():
    form = validate_with(PersonForm, json_body())
    person = services.create_person(db.session, form.data, actor=current_user)
    db.session.commit()
    return _ser(person), 201


@bp.get("/people/<int:person_id>")
@roles_required(*READ_REGISTERS)
@doc("Read a person", tags=["people"], response="Person")
def get_person(person_id):
    return _ser(services.get_person(db.session, person_id))


@bp.patch("/people/<int:person_id>")
@roles_required("officer")
@doc("Edit a person (partial)", tags=["people"], body=PersonForm, response="Person")
def update_person(person_id):
    person = services.get_person(db.session, person_id)
    base = {k: v for k, v in _ser(person).items() if k in services.PERSON_FIELDS}
    form = validate_with(PersonForm, json_body(), base=base)
    services.update_person(db.session, person, form.data, actor=current_user,
                           home_country=get_settings()["home_country"])
    db.session.commit()
    return _ser(person)


@bp.post("/people/<int:person_id>/trainings")
@roles_required("officer")
@doc("Add a training record", tags=["people"], body=TrainingForm, response="Training", status=201)
def add_training(person_id):
    person = services.get_person(db.session, person_id)
    form = validate_with(TrainingForm, json_body())
    t = services.add_training(db.session, person, form.data, actor=current_user)
    db.session.commit()
    return services.serialize_training(t), 201


@bp.post("/people/<int:person_id>/reminders")
@roles_required("officer")
@doc("Add a foreign-exchange secrecy reminder", tags=["people"], body=ReminderForm, response="Reminder", status=201)
def add_reminder(person_id):
    person = services.get_person(db.session, person_id)
    form = validate_with(ReminderForm, json_body())
    r = services.add_reminder(db.session, person, form.data, actor=current_user)
    db.session.commit()
    return services.serialize_reminder(r), 201
