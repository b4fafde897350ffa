"""Person commands and queries. Rules that involve held items are supplied by the custody domain."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from registry.core import audit
from registry.core.errors import NotFound, ValidationFailed, violation
from registry.core.models import Category, Level
from registry.core.query import order_by, search
from registry.people.models import Person, PersonStatus, Reminder, Training

PERSON_FIELDS = ("name", "employee_no", "department", "position", "nationality", "category",
                 "commitment_signed_on", "commitment_expires_on", "status", "decommission_until", "phone", "notes")

# Custody registers a function (person, max_level: Level | None) -> list of held items whose
# level is above max_level (None: any held item). People never import custody directly.
HOLDINGS_CHECKS: list = []


def held_items(session, person: Person, above: Level | None = None) -> list:
    found = []
    for check in HOLDINGS_CHECKS:
        found.extend(check(session, person, above))
    return found


def snapshot(person: Person) -> dict:
    return {f: getattr(person, f) for f in PERSON_FIELDS}


def _check_unique(session, employee_no: str, exclude_id: int | None = None) -> None:
    stmt = sa.select(Person.id).where(sa.func.lower(Person.employee_no) == employee_no.lower())
    if exclude_id:
        stmt = stmt.where(Person.id != exclude_id)
    if session.scalar(stmt):
        raise ValidationFailed(details={"employee_no": ["This employee number is already registered."]})


def create_person(session, data: dict, *, actor) -> Person:
    """Register a person. `data` comes from a validated PersonForm."""
    _check_unique(session, data["employee_no"])
    person = Person(**{f: data.get(f) for f in PERSON_FIELDS if f in data})
    person.department = person.department or ""
    person.position = person.position or ""
    person.phone = person.phone or ""
    person.notes = person.notes or ""
    session.add(person)
    session.flush()
    audit.record(session, actor=actor, action="person.create", entity=person, data={"after": snapshot(person)})
    return person


def update_person(session, person: Person, data: dict, *, actor, home_country: str) -> dict:
    """Edit a person. Leaving, decommissioning or a lower category is refused while the
    person holds items they would no longer be cleared for (清退) — `holds_items`."""
    before = snapshot(person)
    if "employee_no" in data and data["employee_no"] != person.employee_no:
        _check_unique(session, data["employee_no"], exclude_id=person.id)
    new_status = PersonStatus(data.get("status", person.status))
    new_category = Category(data.get("category", person.category))
    if new_status != PersonStatus.ACTIVE and new_status != person.status:
        items = held_items(session, person, None)
        if items:
            raise violation("holds_items", kind="person_change_denied", subject=person,
                            items=[getattr(i, "registry_no", str(i)) for i in items])
    if new_category.clearance < Category(person.category).clearance:
        probe = Person(nationality=data.get("nationality", person.nationality), category=new_category)
        items = held_items(session, person, probe.clearance(home_country))
        if items:
            raise violation("holds_items", kind="person_change_denied", subject=person,
                            items=[getattr(i, "registry_no", str(i)) for i in items])
    for f in PERSON_FIELDS:
        if f in data:
            setattr(person, f, data[f] if data[f] is not None or f.endswith(("_on", "_until")) else "")
    after = snapshot(person)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if changed:
        session.flush()
        audit.record(session, actor=actor, action="person.update", entity=person,
                     data={"before": {k: before[k] for k in changed}, "after": changed})
    return changed


def get_person(session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound()
    return person


SORTS = {"name": Person.name, "employee_no": Person.employee_no, "department": Person.department,
         "category": Person.category, "status": Person.status, "id": Person.id,
         "commitment_expires_on": Person.commitment_expires_on}


def people_query(*, q: str | None = None, department: str | None = None, category: str | None = None,
                 status: str | None = None, nationality: str | None = None, sort: str | None = None):
    stmt = sa.select(Person)
    cond = search([Person.name, Person.employee_no, Person.department, Person.position], q)
    if cond is not None:
        stmt = stmt.where(cond)
    if department:
        stmt = stmt.where(Person.department == department)
    if category:
        stmt = stmt.where(Person.category == Category(category))
    if status:
        stmt = stmt.where(Person.status == PersonStatus(status))
    if nationality:
        stmt = stmt.where(Person.nationality == nationality.upper())
    return order_by(stmt, sort, SORTS, "name")


def add_training(session, person: Person, data: dict, *, actor) -> Training:
    t = Training(person_id=person.id, date=data["date"], course=data["course"], hours=data.get("hours") or 0)
    session.add(t)
    session.flush()
    audit.record(session, actor=actor, action="training.create", entity=t,
                 data={"person": person.employee_no, "course": t.course, "date": t.date, "hours": str(t.hours)})
    return t


def add_reminder(session, person: Person, data: dict, *, actor) -> Reminder:
    given_by = data.get("given_by")
    if given_by is not None and session.get(Person, given_by) is None:
        raise ValidationFailed(details={"given_by": ["Unknown person."]})
    r = Reminder(person_id=person.id, date=data["date"], occasion=data["occasion"], given_by_id=given_by,
                 description=data.get("description") or "", acknowledged=bool(data.get("acknowledged")))
    session.add(r)
    session.flush()
    audit.record(session, actor=actor, action="reminder.create", entity=r,
                 data={"person": person.employee_no, "occasion": r.occasion, "date": r.date})
    return r


def departments(session) -> list[str]:
    return [d for d in session.scalars(sa.select(Person.department).distinct().order_by(Person.department)) if d]


def serialize(person: Person, home_country: str) -> dict:
    return {
        "id": person.id, "name": person.name, "employee_no": person.employee_no, "department": person.department,
        "position": person.position, "nationality": person.nationality, "category": person.category.value,
        "clearance": person.clearance(home_country).value,
        "commitment_signed_on": person.commitment_signed_on.isoformat() if person.commitment_signed_on else None,
        "commitment_expires_on": person.commitment_expires_on.isoformat() if person.commitment_expires_on else None,
        "status": person.status.value,
        "decommission_until": person.decommission_until.isoformat() if person.decommission_until else None,
        "phone": person.phone, "notes": person.notes,
    }


def serialize_training(t: Training) -> dict:
    return {"id": t.id, "person_id": t.person_id, "date": t.date.isoformat(), "course": t.course,
            "hours": float(t.hours or 0)}


def serialize_reminder(r: Reminder) -> dict:
    return {"id": r.id, "person_id": r.person_id, "date": r.date.isoformat(), "occasion": r.occasion.value,
            "given_by": r.given_by_id, "description": r.description, "acknowledged": r.acknowledged}


_ = date
