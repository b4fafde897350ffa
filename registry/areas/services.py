"""Room commands and queries, and the staff access list."""

from __future__ import annotations

import sqlalchemy as sa

from registry.areas.models import ForeignPolicy, Room, RoomAccess
from registry.core import audit
from registry.core.errors import NotFound, ValidationFailed
from registry.core.labels import issue_label
from registry.core.models import Level, utcnow
from registry.core.query import order_by, search
from registry.people.models import Person

ROOM_FIELDS = ("code", "name", "location", "level", "foreign_policy", "max_visitors_per_escort", "protection",
               "responsible_id")


def snapshot(room: Room) -> dict:
    return {f: getattr(room, f) for f in ROOM_FIELDS}


def _check(session, data: dict, exclude_id: int | None = None) -> None:
    code = data.get("code")
    if code is not None:
        stmt = sa.select(Room.id).where(sa.func.lower(Room.code) == code.lower())
        if exclude_id:
            stmt = stmt.where(Room.id != exclude_id)
        if session.scalar(stmt):
            raise ValidationFailed(details={"code": ["This room code is already registered."]})
    rid = data.get("responsible_id")
    if rid is not None and session.get(Person, rid) is None:
        raise ValidationFailed(details={"responsible_id": ["Unknown person."]})


def create_room(session, data: dict, *, actor) -> Room:
    _check(session, data)
    room = Room(**{f: data[f] for f in ROOM_FIELDS if f in data and data[f] is not None})
    room.location = room.location or ""
    room.protection = room.protection or ""
    session.add(room)
    session.flush()
    issue_label(session, "room", room, actor=actor)
    audit.record(session, actor=actor, action="room.create", entity=room, data={"after": snapshot(room)})
    return room


def update_room(session, room: Room, data: dict, *, actor) -> dict:
    _check(session, data, exclude_id=room.id)
    before = snapshot(room)
    for f in ROOM_FIELDS:
        if f in data:
            value = data[f]
            if value is None and f in ("location", "protection"):
                value = ""
            if value is None and f == "max_visitors_per_escort":
                value = 5
            setattr(room, f, value)
    after = snapshot(room)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if changed:
        session.flush()
        audit.record(session, actor=actor, action="room.update", entity=room,
                     data={"before": {k: before[k] for k in changed}, "after": changed})
    return changed


def get_room(session, room_id: int) -> Room:
    room = session.get(Room, room_id)
    if room is None:
        raise NotFound()
    return room


SORTS = {"code": Room.code, "name": Room.name, "level": Room.level, "location": Room.location, "id": Room.id}


def rooms_query(*, q=None, level=None, foreign_policy=None, sort=None):
    stmt = sa.select(Room)
    cond = search([Room.code, Room.name, Room.location], q)
    if cond is not None:
        stmt = stmt.where(cond)
    if level:
        stmt = stmt.where(Room.level == Level(level))
    if foreign_policy:
        stmt = stmt.where(Room.foreign_policy == ForeignPolicy(foreign_policy))
    return order_by(stmt, sort, SORTS, "code")


def access_list(session, room: Room) -> list[RoomAccess]:
    return list(session.scalars(sa.select(RoomAccess).where(RoomAccess.room_id == room.id,
                                                            RoomAccess.revoked_at.is_(None))
                                .join(RoomAccess.person).order_by(Person.name)))


def grant_access(session, room: Room, person: Person, *, actor) -> RoomAccess:
    existing = session.scalar(sa.select(RoomAccess).where(RoomAccess.room_id == room.id,
                                                          RoomAccess.person_id == person.id,
                                                          RoomAccess.revoked_at.is_(None)))
    if existing:
        raise ValidationFailed(details={"person_id": ["Already on the access list."]})
    access = RoomAccess(room_id=room.id, person_id=person.id, granted_by=getattr(actor, "username", ""))
    session.add(access)
    session.flush()
    audit.record(session, actor=actor, action="room.access_grant", entity=room,
                 data={"person": person.employee_no, "person_id": person.id})
    return access


def revoke_access(session, access: RoomAccess, *, actor) -> None:
    if access.revoked_at is None:
        access.revoked_at = utcnow()
        audit.record(session, actor=actor, action="room.access_revoke", entity_type="rooms",
                     entity_id=access.room_id, data={"person_id": access.person_id})


def serialize(room: Room) -> dict:
    return {"id": room.id, "code": room.code, "name": room.name, "location": room.location,
            "level": room.level.value, "foreign_policy": room.foreign_policy.value,
            "max_visitors_per_escort": room.max_visitors_per_escort, "label_code": room.label_code,
            "protection": room.protection, "responsible_id": room.responsible_id}
