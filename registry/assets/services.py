"""Custody commands and queries: register and edit items, labels, checkout/checkin (single and
batch), copies, inspections, and the read side used by pages, API, CLI and other domains.

Every command re-checks the rules (rules.py), changes state with a conditional UPDATE where a
race is possible, records the audit event in the same transaction, flushes and never commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from registry.assets import rules
from registry.assets.models import (SUBTYPES_BY_KIND, Asset, AssetKind, AssetScope, AssetStatus, Checkout,
                                    EquipmentInspection, InspectionResult, Network, RegistryCounter, ReturnCondition,
                                    Subtype)
from registry.core import audit
from registry.core.db import insert_rows
from registry.core.errors import Forbidden, NotFound, RuleViolation, ValidationFailed, violation
from registry.core.labels import Label, find_label, issue_label, new_code
from registry.core.models import DEFAULT_SECRECY_YEARS, JSONDocument, Level, canonical_json, utcnow
from registry.core.query import order_by, search
from registry.core.security_events import record_security_event
from registry.people.models import Person

COMMON_FIELDS = ("subtype", "title", "level", "secrecy_years", "declassify_on", "custodian_id", "room_id",
                 "serial_no", "model", "notes")
KIND_FIELDS: dict[AssetKind, tuple[str, ...]] = {
    AssetKind.MEDIA: ("doc_no", "originator", "pages", "copies", "copy_no"),
    AssetKind.COMPUTER: ("hdd_serial", "mac", "network", "os", "ip", "foreign_supplied"),
    AssetKind.STORAGE: ("capacity",),
    AssetKind.EQUIPMENT: ("foreign_supplied",),
}
ALL_KIND_FIELDS = tuple(dict.fromkeys(f for fs in KIND_FIELDS.values() for f in fs))
TEXT_FIELDS = ("serial_no", "model", "notes", "doc_no", "originator", "hdd_serial", "mac", "os", "ip", "capacity")


def _settings(settings: dict | None) -> dict:
    if settings is not None:
        return settings
    from registry.core.settings import get_settings

    return get_settings()


def _audited_fields(kind) -> tuple[str, ...]:
    return ("registry_no", "kind", "status") + COMMON_FIELDS + KIND_FIELDS[AssetKind(kind)]


def snapshot(asset: Asset) -> dict:
    """The audited fields of an item: the common ones and those of its kind."""
    data = {f: getattr(asset, f) for f in _audited_fields(asset.kind)}
    data["scope"] = asset.scope
    return data


def values_snapshot(values: dict, departments: list, person_ids: list) -> dict:
    """`snapshot` of an item not loaded as an object (its column values, `asset_values`, and scope),
    as the audit trail stores it (enumerations by value, dates in ISO form, str keys): plain JSON
    values, so that `AssetBatch.write` serialises it once with `canonical_json` and hands the text
    to `audit.record_many` (no `_plain` walk per row; tests/assets compare with `record`)."""
    data = {}
    for f in _audited_fields(values["kind"]):
        value = values.get(f)
        data[f] = value.value if isinstance(value, Enum) else value.isoformat() if isinstance(value, date) else value
    data["scope"] = {"departments": departments, "person_ids": person_ids}
    return data


# ------------------------------------------------------------------ registry numbers

def _bump_counter(session, kind: str, year: int, by: int = 1) -> int:
    """Increment the counter row for (kind, year) by `by` and return its new value; creates it on first use.

    On SQLite the transaction already holds the write lock (BEGIN IMMEDIATE); on PostgreSQL
    the UPDATE locks the row until commit, and a concurrent first INSERT loses on the primary
    key inside a savepoint and retries the UPDATE.
    """
    for _attempt in range(5):
        row = session.execute(
            sa.update(RegistryCounter).where(RegistryCounter.kind == kind, RegistryCounter.year == year)
            .values(last=RegistryCounter.last + by).returning(RegistryCounter.last)
            .execution_options(synchronize_session=False)).first()
        if row is not None:
            return int(row[0])
        try:
            with session.begin_nested():
                session.execute(sa.insert(RegistryCounter).values(kind=kind, year=year, last=by))
            return by
        except IntegrityError:
            continue
    raise RuntimeError("registry counter contention")


def _registry_prefix(kind: AssetKind, settings: dict | None) -> str:
    return str(_settings(settings).get(f"registry_prefix_{AssetKind(kind).value}") or kind.value[:2].upper())


def next_registry_no(session, kind: AssetKind, *, year: int, settings: dict | None = None) -> str:
    """The next free registry number for a kind and year, e.g. ZT-2026-00042 (prefix from settings)."""
    prefix = _registry_prefix(kind, settings)
    while True:
        n = _bump_counter(session, AssetKind(kind).value, year)
        number = f"{prefix}-{year}-{n:05d}"
        if session.scalar(sa.select(Asset.id).where(Asset.registry_no == number)) is None:
            return number


def _reserve_registry_nos(session, kind: AssetKind, *, year: int, count: int, taken: set[str],
                          settings: dict | None = None) -> list[str]:
    """`count` registry numbers as `count` calls of next_registry_no would give them (one counter
    UPDATE per round), skipping the numbers in `taken` (lower-cased; the new ones are added)."""
    prefix = _registry_prefix(kind, settings)
    numbers: list[str] = []
    while len(numbers) < count:
        need = count - len(numbers)
        last = _bump_counter(session, AssetKind(kind).value, year, by=need)
        for n in range(last - need + 1, last + 1):
            number = f"{prefix}-{year}-{n:05d}"
            if number.lower() not in taken:
                taken.add(number.lower())
                numbers.append(number)
    return numbers


# ------------------------------------------------------------------ register and edit

class _QueriedRefs:
    """References looked up one query each (a single registration or edit)."""

    def __init__(self, session):
        self.session = session

    def has_person(self, person_id) -> bool:
        return self.session.get(Person, person_id) is not None

    def room(self, room_id):
        return _room(self.session, room_id)

    def count_people(self, person_ids: set) -> int:
        return self.session.scalar(sa.select(sa.func.count(Person.id)).where(Person.id.in_(person_ids)))


class _LoadedRefs:
    """References loaded once (a batch of registrations): person ids and rooms by id."""

    def __init__(self, session):
        from registry.areas.models import Room

        self.people = set(session.scalars(sa.select(Person.id)))
        self.rooms = {room.id: room for room in session.scalars(sa.select(Room))}

    def has_person(self, person_id) -> bool:
        return person_id in self.people

    def room(self, room_id):
        return None if room_id is None else self.rooms.get(room_id)

    def count_people(self, person_ids: set) -> int:
        return sum(1 for p in person_ids if p in self.people)


def _check_refs(session, data: dict, refs=None) -> dict:
    refs = refs or _QueriedRefs(session)
    errors = {}
    custodian_id = data.get("custodian_id")
    if custodian_id is not None and not refs.has_person(custodian_id):
        errors["custodian_id"] = [_l("Unknown record.")]
    room_id = data.get("room_id")
    if room_id is not None and refs.room(room_id) is None:
        errors["room_id"] = [_l("Unknown record.")]
    person_ids = data.get("scope_person_ids") or []
    if person_ids:
        found = refs.count_people(set(person_ids))
        if found != len(set(person_ids)):
            errors["scope_person_ids"] = [_l("Unknown person in the scope.")]
    if errors:
        raise ValidationFailed(details=errors)
    return data


def _normalise(kind: AssetKind, data: dict) -> dict:
    """Keep the fields of this kind; blank text becomes ''. Subtype must belong to the kind."""
    out = {}
    for f in COMMON_FIELDS + KIND_FIELDS[kind]:
        if f in data:
            value = data[f]
            if f in TEXT_FIELDS and value is None:
                value = ""
            out[f] = value
    if "subtype" in out:
        subtype = Subtype(out["subtype"] or "other")
        if subtype not in SUBTYPES_BY_KIND[kind]:
            raise ValidationFailed(details={"subtype": [_l("Not a subtype of this kind of item.")]})
        out["subtype"] = subtype
    if "level" in out:
        out["level"] = Level(out["level"])
    if out.get("network"):
        out["network"] = Network(out["network"])
    elif "network" in out:
        out["network"] = None
    return out


def _scope_lists(departments, person_ids) -> tuple[list[str], list[int]]:
    """The scope entries a registration or an edit keeps: departments stripped, once each; people once each."""
    return ([dept[:120] for dept in dict.fromkeys(d.strip() for d in (departments or []) if d and d.strip())],
            list(dict.fromkeys(int(p) for p in (person_ids or []))))


def _set_scope(asset: Asset, departments, person_ids) -> None:
    asset.scope_entries.clear()
    departments, person_ids = _scope_lists(departments, person_ids)
    for dept in departments:
        asset.scope_entries.append(AssetScope(department=dept))
    for pid in person_ids:
        asset.scope_entries.append(AssetScope(person_id=pid))


def _room(session, room_id):
    if room_id is None:
        return None
    from registry.areas.models import Room

    return session.get(Room, room_id)


def asset_values(data: dict, *, now: datetime, settings: dict, room) -> dict:
    """The column values of the item a registration creates, not yet numbered: the fields of its
    kind (subtype must fit the kind), the default secrecy period of its level and the
    declassification date from it, a computer's network, and the placement rule
    (`inspection_required`, with `room` the item's room or None). The registry number is the one
    given (stripped) or None. Shared by create_asset (one item, through build_asset) and AssetBatch
    (an import, as rows)."""
    kind = AssetKind(data["kind"])
    fields = _normalise(kind, data)
    level = fields["level"]
    if fields.get("secrecy_years") is None and level in DEFAULT_SECRECY_YEARS:
        fields["secrecy_years"] = DEFAULT_SECRECY_YEARS[level]
    registered_on = rules.local_today(now, settings)
    if fields.get("declassify_on") is None and fields.get("secrecy_years"):
        fields["declassify_on"] = _add_years(registered_on, int(fields["secrecy_years"]))
    if kind == AssetKind.COMPUTER and not fields.get("network"):
        fields["network"] = Network.STANDALONE
    values = {"registry_no": (data.get("registry_no") or "").strip() or None, "kind": kind,
              "status": AssetStatus.AVAILABLE, "registered_on": registered_on, "created_at": now, "updated_at": now,
              **fields}
    for f in TEXT_FIELDS:
        if values.get(f) is None:
            values[f] = ""
    values["foreign_supplied"] = bool(values.get("foreign_supplied"))
    values["original_id"] = data.get("original_id")
    rules.check_placement(None, room, values["foreign_supplied"])  # a new item has no inspection yet
    return values


def build_asset(data: dict, *, now: datetime, settings: dict, room) -> Asset:
    """The item a registration creates (`asset_values`) with its scope, not yet numbered, added to
    the session or labelled."""
    asset = Asset(**asset_values(data, now=now, settings=settings, room=room))
    _set_scope(asset, data.get("scope_departments"), data.get("scope_person_ids"))
    return asset


def _created_event(asset: Asset) -> dict:
    """The data of an item's `asset.create` audit event."""
    return {"after": snapshot(asset)}


def _number_taken(session, number: str) -> bool:
    return session.scalar(sa.select(Asset.id).where(sa.func.lower(Asset.registry_no) == number.lower())) is not None


NUMBER_TAKEN = _l("This registry number is already registered.")


def create_asset(session, data: dict, *, actor, now: datetime | None = None, settings: dict | None = None) -> Asset:
    """Register an item: registry number (generated unless given), label, scope, audit.

    Foreign-supplied equipment cannot be placed in a room of level ≥ confidential before an
    inspection (`inspection_required`); a given registry number must be unique.
    """
    if actor is not None and not rules.can_manage(actor):
        raise Forbidden()
    settings = _settings(settings)
    now = now or utcnow()
    _check_refs(session, data)
    asset = build_asset(data, now=now, settings=settings, room=_room(session, data.get("room_id")))
    if asset.registry_no:
        if _number_taken(session, asset.registry_no):
            raise ValidationFailed(details={"registry_no": [NUMBER_TAKEN]})
    else:
        asset.registry_no = next_registry_no(session, asset.kind, year=asset.registered_on.year, settings=settings)
    session.add(asset)
    session.flush()
    issue_label(session, "asset", asset, actor=actor)
    audit.record(session, actor=actor, action="asset.create", entity=asset, data=_created_event(asset))
    return asset


class AssetBatch:
    """Register many items in one transaction (an import): what create_asset does for each, in bulk.

    `add(data)` checks one item as create_asset does (same rules: asset_values, the references, a
    given registry number unique case-insensitively, in the database and in the batch), against
    references and registry numbers loaded once, and keeps its row (plain column values, no ORM
    object); it raises ValidationFailed, Forbidden or a RuleViolation and writes nothing. `write()`
    then numbers the items without a number (the same counters and sequence as create_asset),
    inserts them with their scope and label, and appends one `asset.create` event per item to the
    audit chain, in order (flushes, never commits). Returns the new ids.
    """

    def __init__(self, session, *, actor, now: datetime | None = None, settings: dict | None = None):
        self.session = session
        self.actor = actor
        self.settings = _settings(settings)
        self.now = now or utcnow()
        self.items: list[tuple[dict, list[str], list[int]]] = []   # (column values, departments, person ids)
        self._refs: _LoadedRefs | None = None
        self._taken: set[str] | None = None
        self._may_manage = actor is None or rules.can_manage(actor)  # the same actor for every item

    @property
    def taken(self) -> set[str]:
        """Registry numbers in use, lower-cased: the database's and the batch's."""
        if self._taken is None:
            self._taken = {n.lower() for n in self.session.scalars(sa.select(Asset.registry_no))}
        return self._taken

    def registered(self, number: str) -> bool:
        return bool(number) and number.strip().lower() in self.taken

    def add(self, data: dict) -> dict:
        """Check one item and keep it; returns its column values (numbered by `write`)."""
        if not self._may_manage:
            raise Forbidden()
        if self._refs is None:
            self._refs = _LoadedRefs(self.session)
        _check_refs(self.session, data, self._refs)
        values = asset_values(data, now=self.now, settings=self.settings, room=self._refs.room(data.get("room_id")))
        number = values["registry_no"]
        if number:
            if number.lower() in self.taken:
                raise ValidationFailed(details={"registry_no": [NUMBER_TAKEN]})
            self.taken.add(number.lower())
        self.items.append((values, *_scope_lists(data.get("scope_departments"), data.get("scope_person_ids"))))
        return values

    def write(self) -> list[int]:
        if not self.items:
            return []
        session, items = self.session, self.items
        unnumbered: dict[tuple[AssetKind, int], list[dict]] = {}
        for values, _departments, _people in items:
            if not values["registry_no"]:
                unnumbered.setdefault((values["kind"], values["registered_on"].year), []).append(values)
        for (kind, year), group in unnumbered.items():
            numbers = _reserve_registry_nos(session, kind, year=year, count=len(group), taken=self.taken,
                                            settings=self.settings)
            for values, number in zip(group, numbers):
                values["registry_no"] = number
        table = Asset.__table__
        columns = [c for c in table.columns if c.key != "id"]
        defaults = {c.key: c.default.arg for c in columns
                    if c.default is not None and c.default.is_scalar and c.key != "label_code"}
        keys = [c.key for c in columns]
        issued_at = utcnow()
        issued_by = getattr(self.actor, "username", "") or ""
        rows = []
        for values, _departments, _people in items:
            for key, value in defaults.items():  # what the flush of create_asset fills in
                if values.get(key) is None:
                    values[key] = value
            values["label_code"] = new_code()
            rows.append({k: values.get(k) for k in keys})
        insert_rows(session, table, rows)  # no RETURNING: numbers are unique, ids by number
        by_number: dict[str, int] = {}
        numbers = [values["registry_no"] for values, _d, _p in items]
        for i in range(0, len(numbers), 500):
            by_number.update(session.execute(sa.select(table.c.registry_no, table.c.id)
                                             .where(table.c.registry_no.in_(numbers[i:i + 500]))).all())
        ids = [by_number[n] for n in numbers]
        scopes, labels, events = [], [], []
        for (values, departments, person_ids), asset_id in zip(items, ids):
            for department in departments:
                scopes.append({"asset_id": asset_id, "department": department, "person_id": None})
            for person_id in person_ids:
                scopes.append({"asset_id": asset_id, "department": None, "person_id": person_id})
            labels.append({"code": values["label_code"], "target_type": "asset", "target_id": asset_id,
                           "issued_at": issued_at, "issued_by": issued_by, "revoked_at": None,
                           "revoked_reason": None})
            events.append({"action": "asset.create", "entity_type": Asset.__tablename__, "entity_id": asset_id,
                           "data": JSONDocument(canonical_json({"after": values_snapshot(values, departments,
                                                                                          person_ids)}))})
        if scopes:
            insert_rows(session, AssetScope.__table__, scopes)
        insert_rows(session, Label.__table__, labels)
        audit.record_many(session, actor=self.actor, events=events)
        self.items = []
        return list(ids)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def update_asset(session, asset: Asset, data: dict, *, actor) -> dict:
    """Edit an item. Refused for destroyed items (`asset_destroyed`), when a computer's or storage's
    level would go down (`downgrade_refused`), and when foreign-supplied equipment would enter a
    room of level ≥ confidential without an inspection (`inspection_required`)."""
    if actor is not None and not rules.can_manage(actor):
        raise Forbidden()
    rules.check_editable(asset)
    if data.get("kind") not in (None, asset.kind.value, asset.kind):
        raise ValidationFailed(details={"kind": [_l("The kind of an item cannot change; register a new item.")]})
    if data.get("registry_no") not in (None, "", asset.registry_no):
        raise ValidationFailed(details={"registry_no": [_l("The registry number cannot change.")]})
    _check_refs(session, data)
    fields = _normalise(asset.kind, data)
    if "level" in fields:
        rules.check_level_change(asset, fields["level"])
    new_room = fields.get("room_id", asset.room_id)
    foreign = bool(fields.get("foreign_supplied", asset.foreign_supplied))
    if new_room != asset.room_id or foreign != asset.foreign_supplied:
        rules.check_placement(asset, _room(session, new_room), foreign)
    before = snapshot(asset)
    for f, value in fields.items():
        setattr(asset, f, value)
    if "foreign_supplied" in fields:
        asset.foreign_supplied = bool(fields["foreign_supplied"])
    if "scope_departments" in data or "scope_person_ids" in data:
        scope = asset.scope
        _set_scope(asset, data.get("scope_departments", scope["departments"]),
                   data.get("scope_person_ids", scope["person_ids"]))
    after = snapshot(asset)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if changed:
        asset.updated_at = utcnow()
        session.flush()
        audit.record(session, actor=actor, action="asset.update", entity=asset,
                     data={"before": {k: before[k] for k in changed}, "after": changed})
    return changed


def add_inspection(session, asset: Asset, data: dict, *, actor) -> EquipmentInspection:
    """Record a secrecy inspection (保密技术检查检测) of a device: date, inspector, result, notes."""
    if actor is not None and not rules.can_manage(actor):
        raise Forbidden()
    rules.check_editable(asset)
    inspection = EquipmentInspection(asset_id=asset.id, date=data["date"], inspector=data["inspector"],
                                     result=InspectionResult(data["result"]), notes=data.get("notes") or "",
                                     recorded_by=getattr(actor, "username", "") or "")
    session.add(inspection)
    session.flush()
    session.expire(asset, ["inspections"])
    audit.record(session, actor=actor, action="asset.inspection", entity=asset,
                 data={"date": inspection.date, "inspector": inspection.inspector,
                       "result": inspection.result.value, "notes": inspection.notes})
    return inspection


def reissue_label(session, asset: Asset, *, actor, reason: str = "") -> Label:
    """Give the item a new label code; the old code is revoked (scanning it is refused and recorded)."""
    if actor is not None and not rules.can_manage(actor):
        raise Forbidden()
    rules.check_editable(asset)
    old = asset.label_code
    label = issue_label(session, "asset", asset, actor=actor, reason=reason or "reissued")
    audit.record(session, actor=actor, action="asset.label_reissue", entity=asset,
                 data={"reason": reason or "reissued", "revoked": _short(old), "issued": _short(label.code)})
    return label


def _short(code: str | None) -> str | None:
    return f"{code[:4]}…" if code else None


def set_status(session, asset: Asset, status, *, actor, note: str = "") -> None:
    """Mark an item missing, or found again (missing → available). Other states have their own commands."""
    if actor is not None and not rules.can_manage(actor):
        raise Forbidden()
    rules.check_editable(asset)
    status = AssetStatus(status)
    allowed = {(AssetStatus.AVAILABLE, AssetStatus.MISSING), (AssetStatus.MISSING, AssetStatus.AVAILABLE)}
    if (asset.status, status) not in allowed:
        raise violation("invalid_transition", kind="asset_change_denied", subject=asset,
                        status=asset.status.value, requested=status.value)
    before = asset.status.value
    asset.status = status
    asset.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, action="asset.status", entity=asset,
                 data={"before": {"status": before}, "after": {"status": status.value}, "note": note})


def mark_destroyed(session, asset: Asset, *, actor, reference: str = "") -> None:
    """For the destruction domain: the item becomes `destroyed` (never edited or checked out again).

    A checked-out item must be returned first (`asset_unavailable`)."""
    if asset.status == AssetStatus.DESTROYED:
        raise violation("asset_destroyed", kind="asset_change_denied", subject=asset)
    result = session.execute(
        sa.update(Asset).where(Asset.id == asset.id, Asset.status.in_([AssetStatus.AVAILABLE, AssetStatus.MISSING]))
        .values(status=AssetStatus.DESTROYED, updated_at=utcnow()).execution_options(synchronize_session=False))
    session.expire(asset)
    if result.rowcount != 1:
        raise violation("asset_unavailable", kind="asset_change_denied", subject=asset)
    audit.record(session, actor=actor, action="asset.destroyed", entity=asset,
                 data={"after": {"status": "destroyed"}, "reference": reference})


# ------------------------------------------------------------------ checkout / checkin

def open_checkout(session, asset: Asset) -> Checkout | None:
    return session.scalar(sa.select(Checkout).where(Checkout.asset_id == asset.id, Checkout.returned_at.is_(None)))


def evaluate_checkout(session, asset: Asset, borrower: Person, *, actor, due_at=None, approval=None,
                      device: Asset | None = None, now: datetime | None = None,
                      settings: dict | None = None) -> rules.CheckoutDecision:
    """Dry run of the checkout rules (nothing written): the decision with its refusal, if any."""
    settings = _settings(settings)
    return rules.checkout_refusal(session, asset, borrower, actor=actor, settings=settings, now=now or utcnow(),
                                  due_at=rules.parse_due(due_at, settings), approval=approval, device=device)


def checkout(session, asset: Asset, borrower: Person, *, actor, purpose: str, due_at=None, approval=None,
             device: Asset | None = None, batch: str | None = None, now: datetime | None = None,
             settings: dict | None = None) -> Checkout:
    """Check an item out to a borrower under SPEC §4 rules 1–10 and consume the approval it needs.

    The state change is atomic: UPDATE assets SET status='checked_out' WHERE status='available'
    must touch exactly one row, and the partial unique index admits one open checkout per item;
    losing either race is `asset_unavailable` (409).
    """
    settings = _settings(settings)
    now = now or utcnow()
    decision = evaluate_checkout(session, asset, borrower, actor=actor, due_at=due_at, approval=approval,
                                 device=device, now=now, settings=settings)
    if decision.refusal is not None:
        raise decision.refusal
    purpose = (purpose or "").strip()
    if not purpose:
        raise ValidationFailed(details={"purpose": [_l("State the purpose of the checkout.")]})
    result = session.execute(
        sa.update(Asset).where(Asset.id == asset.id, Asset.status == AssetStatus.AVAILABLE)
        .values(status=AssetStatus.CHECKED_OUT, updated_at=now).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise violation("asset_unavailable", kind="checkout_denied", subject=asset, race=True)
    record = Checkout(asset_id=asset.id, borrower_id=borrower.id, purpose=purpose[:300], out_at=now,
                      due_at=decision.due_at, handled_by=getattr(actor, "id", None),
                      approval_id=decision.approval.id if decision.approval is not None else None,
                      device_id=device.id if device is not None else None, self_service=decision.self_service,
                      batch=batch, note="")
    session.add(record)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise violation("asset_unavailable", kind="checkout_denied", subject=asset, race=True) from None
    if decision.approval is not None:
        from registry.approvals import services as approvals

        approvals.consume(session, decision.approval, actor=actor, now=now, used_for=f"checkouts#{record.id}")
    session.expire(asset, ["status", "updated_at"])
    audit.record(session, actor=actor, action="asset.checkout", entity=asset, data={
        "checkout_id": record.id, "borrower": borrower.employee_no, "borrower_id": borrower.id, "purpose": purpose,
        "due_at": record.due_at, "approval_id": record.approval_id, "device": device.registry_no if device else None,
        "self_service": record.self_service, "batch": batch})
    return record


def checkin(session, asset: Asset, *, actor, condition, note: str = "", now: datetime | None = None) -> Checkout:
    """Receive a checked-out item back (officer). Any condition but `intact` also records a
    `return_discrepancy` security event; the checkin itself succeeds."""
    now = now or utcnow()
    record = open_checkout(session, asset)
    rules.check_checkin(actor, asset, record)
    condition = ReturnCondition(condition)
    done = session.execute(
        sa.update(Checkout).where(Checkout.id == record.id, Checkout.returned_at.is_(None))
        .values(returned_at=now, received_by=getattr(actor, "id", None), condition=condition,
                note=(note or "").strip()[:2000]).execution_options(synchronize_session=False))
    back = session.execute(
        sa.update(Asset).where(Asset.id == asset.id, Asset.status == AssetStatus.CHECKED_OUT)
        .values(status=AssetStatus.AVAILABLE, updated_at=now).execution_options(synchronize_session=False))
    if done.rowcount != 1 or back.rowcount != 1:
        raise violation("not_checked_out", kind="checkin_denied", subject=asset, race=True)
    session.expire(record)
    session.expire(asset, ["status", "updated_at"])
    audit.record(session, actor=actor, action="asset.checkin", entity=asset, data={
        "checkout_id": record.id, "borrower_id": record.borrower_id, "condition": condition.value,
        "note": record.note, "overdue": record.due_at < now})
    if condition != ReturnCondition.INTACT:
        record_security_event(session, kind="return_discrepancy", actor=actor, reason=condition.value, subject=asset,
                              details={"checkout_id": record.id, "borrower_id": record.borrower_id,
                                       "note": record.note})
    return record


@dataclass
class BatchResult:
    asset: Asset
    checkout: Checkout | None = None
    refusal: RuleViolation | None = None


def checkout_batch(session, assets: list[Asset], borrower: Person, *, actor, purpose: str, due_at=None,
                   now: datetime | None = None) -> list[BatchResult]:
    """Check several items out to one borrower as one batch. Each item is checked against every
    rule in its own savepoint: allowed ones are checked out, refused ones are recorded as security
    events and returned with their reason. The caller commits once."""
    batch = secrets.token_hex(8)
    return _run_batch(session, assets, actor, lambda a: checkout(
        session, a, borrower, actor=actor, purpose=purpose, due_at=due_at, batch=batch, now=now))


def checkin_batch(session, items: list[tuple[Asset, str]], *, actor, note: str = "",
                  now: datetime | None = None) -> list[BatchResult]:
    """Receive several items (each with its condition); refused ones (`not_checked_out`) are recorded."""
    conditions = {a.id: c for a, c in items}
    return _run_batch(session, [a for a, _ in items], actor, lambda a: checkin(
        session, a, actor=actor, condition=conditions[a.id], note=note, now=now))


def _run_batch(session, assets, actor, action) -> list[BatchResult]:
    results = []
    for asset in assets:
        try:
            with session.begin_nested():
                results.append(BatchResult(asset, checkout=action(asset)))
        except RuleViolation as exc:
            session.expire_all()
            record_security_event(session, kind=exc.event_kind, actor=actor, reason=exc.code, subject=asset,
                                  details=exc.details or None)
            results.append(BatchResult(asset, refusal=exc))
    return results


# ------------------------------------------------------------------ copies (复制)

def make_copy(session, original: Asset, *, actor, count: int = 1, approval=None,
              now: datetime | None = None, settings: dict | None = None) -> list[Asset]:
    """Register `count` copies of an item: same kind, level, period and scope, a new registry number,
    label and copy number each, linked to the original. Level ≥ confidential needs an approved
    copy approval for the item (consumed), covering at least `count` copies."""
    from registry.approvals import services as approvals

    if actor is not None and not rules.can_manage(actor):
        raise Forbidden()
    if original.status == AssetStatus.DESTROYED:
        raise violation("asset_destroyed", kind="copy_denied", subject=original)
    if original.kind not in (AssetKind.MEDIA, AssetKind.STORAGE):
        raise ValidationFailed(details={"count": [_l("Only media and removable storage are copied.")]})
    if not 1 <= int(count) <= 50:
        raise ValidationFailed(details={"count": [_l("Between 1 and 50 copies.")]})
    root = original.original or original
    if rules.copy_needs_approval(original):
        from registry.approvals import rules as approval_rules

        subject = {"asset_id": original.id}
        if approval is None:
            approval = approvals.find_usable(session, "copy", **subject)
        if approval is None or not approval_rules.usable(session, approval, "copy", subject):
            raise violation("approval_required", _l("An approved copy approval for this item is required."),
                            kind="copy_denied", subject=original)
        allowed = int((approval.details or {}).get("copies") or 1)
        if count > allowed:
            raise ValidationFailed(details={"count": [_l("The approval covers %(n)d copies.", n=allowed)]})
        approvals.consume(session, approval, actor=actor, now=now, used_for=f"assets#{original.id}:copy")
    numbers = session.scalars(sa.select(Asset.copy_no).where(
        sa.or_(Asset.id == root.id, Asset.original_id == root.id))).all()
    next_no = max([n for n in numbers if n] + [root.copy_no or 1]) + 1
    scope = original.scope
    copies = []
    for i in range(int(count)):
        data = {f: getattr(original, f) for f in COMMON_FIELDS + KIND_FIELDS[original.kind]}
        data.update(kind=original.kind, copy_no=next_no + i, copies=1 if original.kind == AssetKind.MEDIA else None,
                    original_id=root.id, scope_departments=scope["departments"], scope_person_ids=scope["person_ids"])
        copies.append(create_asset(session, data, actor=actor, now=now, settings=settings))
    session.flush()
    audit.record(session, actor=actor, action="asset.copy", entity=original, data={
        "copies": [c.registry_no for c in copies], "approval_id": getattr(approval, "id", None)})
    return copies


# ------------------------------------------------------------------ lookups

def get_asset(session, asset_id: int) -> Asset:
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFound()
    return asset


def get_by_registry_no(session, number: str) -> Asset | None:
    number = (number or "").strip()[:40]
    if not number:
        return None
    return session.scalar(sa.select(Asset).where(sa.func.upper(Asset.registry_no) == number.upper()))


def get_by_code(session, code: str) -> tuple[Label | None, Asset | None]:
    """(label, asset) for a scanned asset label code; (label, None) for other targets; (None, None) unknown."""
    label = find_label(session, code)
    if label is None or label.target_type != "asset":
        return label, None
    return label, session.get(Asset, label.target_id)


def get_person(session, person_id) -> Person:
    """The borrower for a checkout; an unknown id is a validation error on `borrower_id`."""
    person = session.get(Person, person_id) if person_id else None
    if person is None:
        raise ValidationFailed(details={"borrower_id": [_l("Unknown person.")]})
    return person


def computer_id_by_number(session, number: str) -> int | None:
    """The id of the (not destroyed) computer with this registry number, as typed or scanned (case-insensitive)."""
    number = (number or "").strip()
    if not number:
        return None
    found = session.scalars(sa.select(Asset.id).where(
        Asset.kind == AssetKind.COMPUTER, Asset.status != AssetStatus.DESTROYED,
        Asset.registry_no.in_({number, number.upper()})).limit(2)).all()
    if not found:
        found = session.scalars(sa.select(Asset.id).where(
            Asset.kind == AssetKind.COMPUTER, Asset.status != AssetStatus.DESTROYED,
            sa.func.lower(Asset.registry_no) == number.lower()).limit(2)).all()
    return found[0] if len(found) == 1 else None


def get_asset_or_none(session, asset_id, field: str = "device_id") -> Asset | None:
    if not asset_id:
        return None
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise ValidationFailed(details={field: [_l("Unknown item.")]})
    return asset


def get_approval_or_none(session, approval_id):
    if not approval_id:
        return None
    from registry.approvals.models import Approval

    approval = session.get(Approval, approval_id)
    if approval is None:
        raise ValidationFailed(details={"approval_id": [_l("Unknown approval.")]})
    return approval


def preview_batch(session, assets: list[Asset], borrower_id, *, actor, due_at=None) -> dict:
    """For the batch desk: {asset id: refusal or None} for a chosen borrower (dry run, nothing recorded)."""
    borrower = session.get(Person, borrower_id) if borrower_id else None
    if borrower is None:
        return {}
    out = {}
    for asset in assets:
        try:
            out[asset.id] = evaluate_checkout(session, asset, borrower, actor=actor, due_at=due_at).refusal
        except ValidationFailed:
            out[asset.id] = None
    return out


def label_views(session, asset_ids: list[int], room_ids: list[int], *, unit: str) -> list:
    """What the selected items' and rooms' labels show (number, level marking, unit; never the title).
    Destroyed items and revoked codes are left out."""
    from registry.areas.models import Room
    from registry.assets.labels import LabelView, band_text

    out = []
    if asset_ids:
        for asset in session.scalars(sa.select(Asset).where(Asset.id.in_(asset_ids), Asset.label_code.is_not(None),
                                                            Asset.status != AssetStatus.DESTROYED)
                                     .order_by(Asset.registry_no)):
            out.append(LabelView(asset.label_code, asset.registry_no, asset.level.value,
                                 band_text(asset.level, asset.secrecy_years), unit))
    if room_ids:
        for room in session.scalars(sa.select(Room).where(Room.id.in_(room_ids), Room.label_code.is_not(None))
                                    .order_by(Room.code)):
            out.append(LabelView(room.label_code, room.code, room.level.value, band_text(room.level), unit))
    return out


def held_assets(session, person, above: Level | None = None) -> list[Asset]:
    """Items a person holds (open checkouts), only those above `above` when given."""
    stmt = sa.select(Asset).join(Checkout, Checkout.asset_id == Asset.id).where(
        Checkout.borrower_id == person.id, Checkout.returned_at.is_(None))
    if above is not None:
        stmt = stmt.where(Asset.level.in_(rules.levels_above(Level(above))))
    return list(session.scalars(stmt.order_by(Asset.registry_no)))


SORTS = {"registry_no": Asset.registry_no, "title": Asset.title, "level": Asset.level, "status": Asset.status,
         "kind": Asset.kind, "id": Asset.id, "created_at": Asset.created_at}


def overdue_condition(now: datetime | None = None):
    return sa.exists().where(Checkout.asset_id == Asset.id, Checkout.returned_at.is_(None),
                             Checkout.due_at < (now or utcnow()))


def assets_query(user, *, q=None, kind=None, level=None, status=None, room_id=None, custodian_id=None,
                 overdue=None, sort=None, home_country: str = "CN"):
    """Items the user may see, filtered. Search covers registry number, title (only for those who
    may read it: every filtered item is readable), serial numbers, document number and model."""
    stmt = sa.select(Asset)
    visible = rules.visible_filter(user, home_country) if user is not None else None
    if visible is not None:
        stmt = stmt.where(visible)
    cond = search([Asset.registry_no, Asset.title, Asset.serial_no, Asset.doc_no, Asset.model, Asset.hdd_serial,
                   Asset.mac], q)
    if cond is not None:
        stmt = stmt.where(cond)
    if kind:
        stmt = stmt.where(Asset.kind == AssetKind(kind))
    if level:
        stmt = stmt.where(Asset.level == Level(level))
    if status:
        stmt = stmt.where(Asset.status == AssetStatus(status))
    if room_id:
        stmt = stmt.where(Asset.room_id == room_id)
    if custodian_id:
        stmt = stmt.where(Asset.custodian_id == custodian_id)
    if overdue is True:
        stmt = stmt.where(overdue_condition())
    elif overdue is False:
        stmt = stmt.where(~overdue_condition())
    return order_by(stmt, sort, SORTS, "registry_no")


def checkouts_query(user, *, open_=None, overdue=None, borrower_id=None, asset_id=None, now=None):
    """The checkout log; staff see only their own loans. Newest first, open ones first."""
    # asset (many-to-one, never null) and borrower loaded with the page, not one query per row;
    # no plain join, so the page's count reads the checkouts table alone
    stmt = sa.select(Checkout).options(joinedload(Checkout.asset, innerjoin=True), selectinload(Checkout.borrower))
    if not user.has_role(*rules.FULL_READ_ROLES):
        stmt = stmt.where(Checkout.borrower_id == (user.person_id or -1))
    if open_ is True:
        stmt = stmt.where(Checkout.returned_at.is_(None))
    elif open_ is False:
        stmt = stmt.where(Checkout.returned_at.is_not(None))
    if overdue is True:
        stmt = stmt.where(Checkout.returned_at.is_(None), Checkout.due_at < (now or utcnow()))
    elif overdue is False:
        stmt = stmt.where(sa.or_(Checkout.returned_at.is_not(None), Checkout.due_at >= (now or utcnow())))
    if borrower_id:
        stmt = stmt.where(Checkout.borrower_id == borrower_id)
    if asset_id:
        stmt = stmt.where(Checkout.asset_id == asset_id)
    open_first = sa.case((Checkout.returned_at.is_(None), 0), else_=1)
    return stmt.order_by(open_first, Checkout.due_at if overdue else Checkout.out_at.desc(), Checkout.id.desc())


def counts_by_status(session, user=None, home_country: str = "CN") -> dict[str, int]:
    stmt = sa.select(Asset.status, sa.func.count(Asset.id)).group_by(Asset.status)
    if user is not None:
        visible = rules.visible_filter(user, home_country)
        if visible is not None:
            stmt = stmt.where(visible)
    return {AssetStatus(s).value: n for s, n in session.execute(stmt)}


def overdue_count(session, user=None, now=None) -> int:
    stmt = sa.select(sa.func.count(Checkout.id)).where(Checkout.returned_at.is_(None),
                                                       Checkout.due_at < (now or utcnow()))
    if user is not None and not user.has_role(*rules.FULL_READ_ROLES):
        stmt = stmt.where(Checkout.borrower_id == (user.person_id or -1))
    return session.scalar(stmt)


def report_overdue(session, *, actor=None, now: datetime | None = None) -> list[Checkout]:
    """Record one `overdue` security event per overdue checkout not reported yet (CLI / cron)."""
    now = now or utcnow()
    found = list(session.scalars(sa.select(Checkout).where(
        Checkout.returned_at.is_(None), Checkout.due_at < now, Checkout.overdue_reported_at.is_(None))))
    for record in found:
        record.overdue_reported_at = now
        record_security_event(session, kind="overdue", actor=actor, reason="overdue", subject=record.asset,
                              details={"checkout_id": record.id, "borrower_id": record.borrower_id,
                                       "due_at": record.due_at})
    session.flush()
    return found


# ------------------------------------------------------------------ serialisation

def serialize(asset: Asset) -> dict:
    """The SPEC §6 asset fields (plus the kind-specific ones)."""
    return {
        "id": asset.id, "registry_no": asset.registry_no, "kind": asset.kind.value, "subtype": asset.subtype.value,
        "title": asset.title, "level": asset.level.value, "secrecy_years": asset.secrecy_years,
        "declassify_on": asset.declassify_on.isoformat() if asset.declassify_on else None,
        "custodian_id": asset.custodian_id, "room_id": asset.room_id, "status": asset.status.value,
        "serial_no": asset.serial_no, "model": asset.model, "copies": asset.copies, "pages": asset.pages,
        "copy_no": asset.copy_no, "original_id": asset.original_id, "doc_no": asset.doc_no,
        "originator": asset.originator, "network": asset.network.value if asset.network else None,
        "hdd_serial": asset.hdd_serial, "mac": asset.mac, "os": asset.os, "ip": asset.ip, "capacity": asset.capacity,
        "foreign_supplied": bool(asset.foreign_supplied), "scope": asset.scope, "label_code": asset.label_code,
        "notes": asset.notes,
    }


def serialize_checkout(record: Checkout, now: datetime | None = None) -> dict:
    return {
        "id": record.id, "asset_id": record.asset_id, "borrower_id": record.borrower_id, "purpose": record.purpose,
        "out_at": record.out_at.isoformat(), "due_at": record.due_at.isoformat(), "approval_id": record.approval_id,
        "device_id": record.device_id, "handled_by": record.handled_by, "self_service": record.self_service,
        "returned_at": record.returned_at.isoformat() if record.returned_at else None,
        "received_by": record.received_by, "condition": record.condition.value if record.condition else None,
        "note": record.note, "overdue": record.is_overdue(now),
    }


def _holdings_check(session, person, above):
    return held_assets(session, person, above)


def _approval_may_name(actor, asset: Asset) -> bool:
    """An approval request may name only an item the requester may see (else: unknown record)."""
    return rules.can_view_asset(actor, asset, _settings(None).get("home_country") or "CN")


def register_hooks() -> None:
    """Tell the people domain which items a person holds (清退 before leaving or a lower category),
    and the approvals domain which items a requester may name."""
    from registry.approvals.services import SUBJECT_VISIBLE
    from registry.people.services import HOLDINGS_CHECKS

    if _holdings_check not in HOLDINGS_CHECKS:
        HOLDINGS_CHECKS.append(_holdings_check)
    SUBJECT_VISIBLE["asset_id"] = _approval_may_name


register_hooks()

