"""Person commands and queries. Rules that involve held items are supplied by the custody domain."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import contains_eager, selectinload

from registry.core import audit
from registry.core.errors import Conflict, Forbidden, NotFound, NotVisible, ValidationFailed, violation
from registry.core.models import Category, Level, utcnow
from registry.core.query import order_by, search
from registry.people.models import Person, PersonStatus, Reminder, Training

PERSON_FIELDS = ("name", "employee_no", "department", "position", "nationality", "category",
                 "commitment_signed_on", "commitment_expires_on", "status", "decommission_until", "left_on",
                 "phone", "notes")

def unit_today(settings: dict | None = None, now: datetime | None = None) -> date:
    """Today's date in the unit's time zone (settings `timezone`), for expiry lists and deadlines."""
    from zoneinfo import ZoneInfo

    if settings is None:
        from registry.core.settings import get_settings

        settings = get_settings()
    try:
        zone = ZoneInfo(settings.get("timezone") or "UTC")
    except Exception:  # an unknown zone name must not break a page
        zone = ZoneInfo("UTC")
    return (now or utcnow()).astimezone(zone).date()


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
    check_change_allowed(session, person, data, home_country=home_country)
    for f in PERSON_FIELDS:
        if f in data:
            value = data[f] if data[f] is not None or f.endswith(("_on", "_until")) else ""
            if f == "category" and value:
                value = Category(value)
            elif f == "status" and value:
                value = PersonStatus(value)
            setattr(person, f, value)
    after = snapshot(person)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if changed:
        session.flush()
        audit.record(session, actor=actor, action="person.update", entity=person,
                     data={"before": {k: before[k] for k in changed}, "after": changed})
    if "status" in changed and person.status != PersonStatus.ACTIVE:
        disable_accounts(session, person, actor=actor)
    return changed


def disable_accounts(session, person: Person, *, actor) -> list:
    """A person taken off their post (decommissioning or left) keeps no way in: every active user
    account linked to them is disabled, which ends its sessions (auth.services.update_user, audited).
    Returning to the post does not re-enable an account: an administrator decides that."""
    from registry.auth.models import User
    from registry.auth.services import update_user

    users = list(session.scalars(sa.select(User).where(User.person_id == person.id, User.active.is_(True))
                                 .order_by(User.id)))
    for user in users:
        try:
            update_user(session, user, actor=actor, active=False)
        except ValidationFailed:
            raise ValidationFailed(details={"status": [_l(
                "The account %(username)s of this person cannot be disabled (your own account, or the last "
                "active administrator): ask another administrator first.", username=user.username)]}) from None
    return users


def check_change_allowed(session, person: Person, data: dict, *, home_country: str) -> None:
    """The 清退 rule (SPEC §4): refuse `holds_items` when the change would take the person off
    their post (decommissioning or left) while they still hold checked-out items, or would lower
    their clearance (a lower category, or a foreign nationality) below an item they hold."""
    new_status = PersonStatus(data.get("status", person.status))
    if new_status != PersonStatus.ACTIVE and new_status != person.status:
        items = held_items(session, person, None)
        if items:
            raise violation("holds_items", kind="person_change_denied", subject=person,
                            status=new_status.value, items=[getattr(i, "registry_no", str(i)) for i in items])
    probe = Person(nationality=data.get("nationality", person.nationality),
                   category=Category(data.get("category", person.category)))
    new_clearance = probe.clearance(home_country)
    if new_clearance < person.clearance(home_country):
        items = held_items(session, person, new_clearance)
        if items:
            raise violation("holds_items", kind="person_change_denied", subject=person,
                            clearance=new_clearance.value,
                            items=[getattr(i, "registry_no", str(i)) for i in items])


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
    acknowledged = bool(data.get("acknowledged"))
    r = Reminder(person_id=person.id, date=data["date"], occasion=data["occasion"], given_by_id=given_by,
                 description=data.get("description") or "", acknowledged=acknowledged,
                 acknowledged_at=utcnow() if acknowledged else None,
                 acknowledged_by=(getattr(actor, "username", None) or "system") if acknowledged else "")
    session.add(r)
    session.flush()
    audit.record(session, actor=actor, action="reminder.create", entity=r,
                 data={"person": person.employee_no, "occasion": r.occasion, "date": r.date,
                       "acknowledged": acknowledged})
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
        "left_on": person.left_on.isoformat() if person.left_on else None,
        "phone": person.phone, "notes": person.notes,
    }


def serialize_training(t: Training) -> dict:
    return {"id": t.id, "person_id": t.person_id, "date": t.date.isoformat(), "course": t.course,
            "hours": float(t.hours or 0)}


def serialize_reminder(r: Reminder) -> dict:
    return {"id": r.id, "person_id": r.person_id, "date": r.date.isoformat(), "occasion": r.occasion.value,
            "given_by": r.given_by_id, "description": r.description, "acknowledged": r.acknowledged,
            "acknowledged_at": r.acknowledged_at.isoformat() if r.acknowledged_at else None,
            "acknowledged_by": r.acknowledged_by or None}


def serialize_commitment(person: Person, today: date, within_days: int = 30) -> dict:
    """A person's commitment letter (保密承诺书) with its state for the expiry list."""
    days = (person.commitment_expires_on - today).days if person.commitment_expires_on else None
    return {"person_id": person.id, "name": person.name, "employee_no": person.employee_no,
            "department": person.department, "category": person.category.value, "status": person.status.value,
            "commitment_signed_on": person.commitment_signed_on.isoformat() if person.commitment_signed_on else None,
            "commitment_expires_on": person.commitment_expires_on.isoformat() if person.commitment_expires_on else None,
            "days_left": days, "state": person.commitment_state(today, within_days)}


# ------------------------------------------------------------------ leaving the post (离岗, 脱密期, 清退)

def leave(session, person: Person, *, actor, home_country: str, today: date, left_on: date | None = None,
          decommission_until: date | None = None) -> dict:
    """Take a person off their post: a decommissioning period (脱密期, status `decommissioning`)
    until `decommission_until`, or `left` at once when no period is given.

    Refused with `holds_items` while the person still holds checked-out items (清退 first).
    A person who left cannot leave again; the period must end after the leaving date."""
    left_on = left_on or today
    if person.status == PersonStatus.LEFT:
        raise violation("invalid_transition", kind="person_change_denied", subject=person, status="left")
    if decommission_until is not None and decommission_until <= left_on:
        raise ValidationFailed(details={"decommission_until": [
            _l("Must be after the date the person left the post.")]})
    if decommission_until is not None:
        data = {"status": PersonStatus.DECOMMISSIONING, "decommission_until": decommission_until,
                "left_on": left_on}
    else:
        data = {"status": PersonStatus.LEFT, "left_on": left_on,
                "decommission_until": person.decommission_until if person.status == PersonStatus.DECOMMISSIONING
                else None}
    return update_person(session, person, data, actor=actor, home_country=home_country)


def finish_decommissioning(session, *, actor, today: date, home_country: str) -> list[Person]:
    """Persons whose decommissioning period ended before `today` become `left` (daily CLI job)."""
    due = list(session.scalars(sa.select(Person).where(
        Person.status == PersonStatus.DECOMMISSIONING, Person.decommission_until.is_not(None),
        Person.decommission_until < today).order_by(Person.employee_no)))
    for person in due:
        update_person(session, person, {"status": PersonStatus.LEFT}, actor=actor, home_country=home_country)
    return due


def custodian_items(session, person: Person) -> list:
    """Items the person is the responsible custodian (责任人) of, not destroyed: to hand over on leaving.

    Read through the custody model lazily (people never import custody at module level)."""
    from registry.assets.models import Asset, AssetStatus

    return list(session.scalars(sa.select(Asset).where(
        Asset.custodian_id == person.id, Asset.status != AssetStatus.DESTROYED).order_by(Asset.registry_no)))


def serialize_holding(asset) -> dict:
    """One held item for the 清退 list: the item and its open checkout (title left out)."""
    checkout = getattr(asset, "open_checkout", None)
    return {"asset_id": asset.id, "registry_no": asset.registry_no, "kind": asset.kind.value,
            "level": asset.level.value, "status": asset.status.value,
            "checkout_id": checkout.id if checkout is not None else None,
            "out_at": checkout.out_at.isoformat() if checkout is not None else None,
            "due_at": checkout.due_at.isoformat() if checkout is not None else None}


# ------------------------------------------------------------------ commitment letters (保密承诺书)

def commitments_query(*, today: date, within_days: int = 30, department: str | None = None):
    """Cleared people on the books (active or decommissioning) whose commitment letter is missing,
    expired or expires within `within_days`: soonest first, missing letters first of all."""
    horizon = today + timedelta(days=max(0, int(within_days)))
    stmt = sa.select(Person).where(
        Person.status.in_([PersonStatus.ACTIVE, PersonStatus.DECOMMISSIONING]),
        Person.category != Category.NONE,
        sa.or_(Person.commitment_signed_on.is_(None), Person.commitment_expires_on <= horizon))
    if department:
        stmt = stmt.where(Person.department == department)
    missing_first = sa.case((Person.commitment_signed_on.is_(None), 0), else_=1)
    return stmt.order_by(missing_first, Person.commitment_expires_on, Person.name)


def commitment_counts(session, *, today: date, within_days: int = 30) -> dict[str, int]:
    """{"missing": n, "expired": n, "expiring": n} over the people of commitments_query."""
    counts = {"missing": 0, "expired": 0, "expiring": 0}
    for person in session.scalars(commitments_query(today=today, within_days=within_days)):
        state = person.commitment_state(today, within_days)
        if state in counts:
            counts[state] += 1
    return counts


# ------------------------------------------------------------------ reminders (对外科技交流保密提醒)

def can_acknowledge(user, reminder: Reminder) -> bool:
    """The person reminded (through their own account) or a security officer may acknowledge."""
    if user is None:
        return True  # the console
    if user.has_role("officer"):
        return True
    return bool(user.person_id) and user.person_id == reminder.person_id


def acknowledge_reminder(session, reminder: Reminder, *, actor, now: datetime | None = None) -> Reminder:
    """Record that the person acknowledged the reminder: who marked it and when (once)."""
    if not can_acknowledge(actor, reminder):
        raise Forbidden(_l("Only the person reminded or a security officer may acknowledge this reminder."))
    if reminder.acknowledged:
        raise Conflict(_l("This reminder was acknowledged already."), code="already_acknowledged")
    reminder.acknowledged = True
    reminder.acknowledged_at = now or utcnow()
    reminder.acknowledged_by = getattr(actor, "username", None) or "system"
    session.flush()
    audit.record(session, actor=actor, action="reminder.acknowledge", entity=reminder,
                 data={"person_id": reminder.person_id, "after": {"acknowledged": True,
                                                                 "acknowledged_at": reminder.acknowledged_at}})
    return reminder


def reminders_query(*, person_id: int | None = None, acknowledged: bool | None = None,
                    occasion: str | None = None, q: str | None = None):
    """Reminders, newest first; unacknowledged ones first within a day."""
    stmt = sa.select(Reminder).join(Reminder.person).options(contains_eager(Reminder.person),
                                                             selectinload(Reminder.given_by))
    if person_id:
        stmt = stmt.where(Reminder.person_id == person_id)
    if acknowledged is not None:
        stmt = stmt.where(Reminder.acknowledged.is_(bool(acknowledged)))
    if occasion:
        stmt = stmt.where(Reminder.occasion == occasion)
    cond = search([Person.name, Person.employee_no, Reminder.description], q)
    if cond is not None:
        stmt = stmt.where(cond)
    return stmt.order_by(Reminder.acknowledged, Reminder.date.desc(), Reminder.id.desc())


def get_reminder(session, reminder_id: int) -> Reminder:
    reminder = session.get(Reminder, reminder_id)
    if reminder is None:
        raise NotFound()
    return reminder


def can_read_reminder(user, reminder: Reminder) -> bool:
    """Those who read the registers see every reminder; anyone else only their own."""
    if user is None or user.has_role("officer", "approver", "inspector"):
        return True
    return bool(user.person_id) and user.person_id == reminder.person_id


def visible_reminder(session, user, reminder_id: int) -> Reminder:
    """The reminder `user` may read: NotFound for an unknown id, NotVisible (answered alike,
    recorded as an access denial) for another person's reminder."""
    reminder = get_reminder(session, reminder_id)
    if not can_read_reminder(user, reminder):
        raise NotVisible(reminder)
    return reminder


def unacknowledged_count(session, person_id: int | None = None) -> int:
    stmt = sa.select(sa.func.count(Reminder.id)).where(Reminder.acknowledged.is_(False))
    if person_id is not None:
        stmt = stmt.where(Reminder.person_id == person_id)
    return session.scalar(stmt) or 0


# ------------------------------------------------------------------ training records

def get_training(session, training_id: int) -> Training:
    training = session.get(Training, training_id)
    if training is None:
        raise NotFound()
    return training


def update_training(session, training: Training, data: dict, *, actor) -> dict:
    """Correct a training record (date, course, hours); audited with before and after."""
    before = {"date": training.date, "course": training.course, "hours": str(training.hours)}
    for f in ("date", "course"):
        if data.get(f) is not None:
            setattr(training, f, data[f])
    if "hours" in data:
        training.hours = data["hours"] or 0
    session.flush()
    after = {"date": training.date, "course": training.course, "hours": str(training.hours)}
    changed = {k: v for k, v in after.items() if str(before[k]) != str(v)}
    if changed:
        audit.record(session, actor=actor, action="training.update", entity=training,
                     data={"person_id": training.person_id, "before": {k: before[k] for k in changed},
                           "after": changed})
    return changed


def trainings_query(*, q: str | None = None, year: int | None = None, department: str | None = None):
    """Training records, newest first (search over person and course)."""
    stmt = sa.select(Training).join(Training.person).options(contains_eager(Training.person))
    cond = search([Person.name, Person.employee_no, Training.course], q)
    if cond is not None:
        stmt = stmt.where(cond)
    if year:
        stmt = stmt.where(Training.date >= date(year, 1, 1), Training.date <= date(year, 12, 31))
    if department:
        stmt = stmt.where(Person.department == department)
    return stmt.order_by(Training.date.desc(), Training.id.desc())


def untrained_query(*, today: date, months: int = 12):
    """Active cleared people without a training record in the last `months` (refresher due)."""
    since = today - timedelta(days=round(months * 30.44))
    recent = sa.select(Training.id).where(Training.person_id == Person.id, Training.date >= since)
    return sa.select(Person).where(Person.status == PersonStatus.ACTIVE, Person.category != Category.NONE,
                                   ~sa.exists(recent)).order_by(Person.department, Person.name)


def by_employee_no(session, employee_no: str) -> Person:
    person = session.scalar(sa.select(Person).where(
        sa.func.lower(Person.employee_no) == (employee_no or "").strip().lower()))
    if person is None:
        raise NotFound(_l("No person with this employee number."))
    return person
