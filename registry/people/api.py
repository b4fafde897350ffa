"""People endpoints of the JSON API (SPEC §6)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from registry.core.api import (api_blueprint, bool_arg, doc, int_arg, json_body, paginate, register_schema,
                               validate_with)
from registry.core.auth import READ_REGISTERS, roles_required
from registry.core.settings import get_settings
from registry.extensions import db
from registry.people import services
from registry.people.forms import LeaveForm, PersonForm, ReminderForm, TrainingForm

bp = api_blueprint("people_api", __name__)

_date = {"type": ["string", "null"], "format": "date"}
register_schema("Person", {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "employee_no": {"type": "string"},
    "department": {"type": "string"}, "position": {"type": "string"}, "nationality": {"type": "string"},
    "category": {"type": "string", "enum": ["core", "important", "general", "none"]},
    "clearance": {"type": "string"}, "commitment_signed_on": _date, "commitment_expires_on": _date,
    "status": {"type": "string", "enum": ["active", "decommissioning", "left"]}, "decommission_until": _date,
    "left_on": _date, "phone": {"type": "string"}, "notes": {"type": "string"}}})
register_schema("Training", {"type": "object", "properties": {
    "id": {"type": "integer"}, "person_id": {"type": "integer"}, "date": {"type": "string", "format": "date"},
    "course": {"type": "string"}, "hours": {"type": "number"}}})
register_schema("Reminder", {"type": "object", "properties": {
    "id": {"type": "integer"}, "person_id": {"type": "integer"}, "date": {"type": "string", "format": "date"},
    "occasion": {"type": "string"}, "given_by": {"type": ["integer", "null"]}, "description": {"type": "string"},
    "acknowledged": {"type": "boolean"}, "acknowledged_at": {"type": ["string", "null"], "format": "date-time"},
    "acknowledged_by": {"type": ["string", "null"]}}})
register_schema("Holdings", {"type": "object", "properties": {
    "person_id": {"type": "integer"}, "status": {"type": "string"}, "may_leave": {"type": "boolean"},
    "items": {"type": "array", "items": {"type": "object", "properties": {
        "asset_id": {"type": "integer"}, "registry_no": {"type": "string"}, "kind": {"type": "string"},
        "level": {"type": "string"}, "status": {"type": "string"}, "checkout_id": {"type": ["integer", "null"]},
        "out_at": {"type": ["string", "null"]}, "due_at": {"type": ["string", "null"]}}}},
    "custodian_of": {"type": "array", "items": {"type": "object"}}}})
register_schema("Commitment", {"type": "object", "properties": {
    "person_id": {"type": "integer"}, "name": {"type": "string"}, "employee_no": {"type": "string"},
    "department": {"type": "string"}, "category": {"type": "string"}, "status": {"type": "string"},
    "commitment_signed_on": _date, "commitment_expires_on": _date, "days_left": {"type": ["integer", "null"]},
    "state": {"type": "string", "enum": ["missing", "expired", "expiring"]}}})


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


@bp.get("/people/<int:person_id>/holdings")
@roles_required(*READ_REGISTERS)
@doc("What a person still holds (清退): checked-out items and items in their custody", tags=["people"],
     response="Holdings")
def holdings(person_id):
    person = services.get_person(db.session, person_id)
    held = services.held_items(db.session, person)
    return {"person_id": person.id, "status": person.status.value, "may_leave": not held,
            "items": [services.serialize_holding(a) for a in held],
            "custodian_of": [{"asset_id": a.id, "registry_no": a.registry_no, "level": a.level.value,
                              "status": a.status.value} for a in services.custodian_items(db.session, person)]}


@bp.post("/people/<int:person_id>/leave")
@roles_required("officer")
@doc("Take a person off their post: a decommissioning period until a date, or left (refused while items are held)",
     tags=["people"], body=LeaveForm, response="Person", errors=(403, 409, 422))
def leave(person_id):
    person = services.get_person(db.session, person_id)
    form = validate_with(LeaveForm, json_body(allow_empty=True))
    services.leave(db.session, person, actor=current_user, home_country=get_settings()["home_country"],
                   today=services.unit_today(), left_on=form.left_on.data,
                   decommission_until=form.decommission_until.data)
    db.session.commit()
    return _ser(person)


@bp.get("/people/commitments")
@roles_required(*READ_REGISTERS)
@doc("Commitment letters missing, expired or expiring within `within` days (default 30)", tags=["people"],
     response="Commitment", list_of=True, errors=(422,), query=[("within", "integer", "days ahead, 0–3650"),
                                                               ("department", "string", "")])
def commitments():
    within = int_arg("within", 30, minimum=0, maximum=3650)
    today = services.unit_today()
    stmt = services.commitments_query(today=today, within_days=within, department=request.args.get("department"))
    return paginate(stmt, lambda p: services.serialize_commitment(p, today, within))


@bp.get("/people/<int:person_id>/trainings")
@roles_required(*READ_REGISTERS)
@doc("A person's training records", tags=["people"], response="Training", list_of=True)
def list_trainings(person_id):
    person = services.get_person(db.session, person_id)
    stmt = services.trainings_query().where(services.Training.person_id == person.id)
    return paginate(stmt, services.serialize_training)


@bp.patch("/trainings/<int:training_id>")
@roles_required("officer")
@doc("Correct a training record", tags=["people"], body=TrainingForm, response="Training", errors=(422,))
def update_training(training_id):
    training = services.get_training(db.session, training_id)
    base = {k: v for k, v in services.serialize_training(training).items() if k in ("date", "course", "hours")}
    form = validate_with(TrainingForm, json_body(), base=base)
    services.update_training(db.session, training, form.data, actor=current_user)
    db.session.commit()
    return services.serialize_training(training)


@bp.get("/people/<int:person_id>/reminders")
@roles_required(*READ_REGISTERS)
@doc("A person's foreign-exchange secrecy reminders", tags=["people"], response="Reminder", list_of=True,
     query=[("acknowledged", "boolean", "")])
def list_reminders(person_id):
    person = services.get_person(db.session, person_id)
    stmt = services.reminders_query(person_id=person.id, acknowledged=bool_arg("acknowledged"))
    return paginate(stmt, services.serialize_reminder)


@bp.post("/reminders/<int:reminder_id>/acknowledge")
@roles_required("officer", "staff", "approver")
@doc("Acknowledge a secrecy reminder (the person reminded, or an officer); records who and when",
     tags=["people"], response="Reminder", errors=(403, 409))
def acknowledge_reminder(reminder_id):
    reminder = services.visible_reminder(db.session, current_user, reminder_id)
    services.acknowledge_reminder(db.session, reminder, actor=current_user)
    db.session.commit()
    return services.serialize_reminder(reminder)
