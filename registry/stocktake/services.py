"""Inventory and destruction commands and queries. Commands re-check the rules, record audit events,
flush and never commit.

For the Excel registers:
  inventories  — `inventories_query(open_=None, date_from=None, date_to=None)` is the SELECT of
                 Inventory rows (newest first); `serialize_inventory(inv)` gives each row's fields and
                 `inventory_findings(session, inv)` the detail rows (one per missing / wrong-room /
                 out-on-loan / found item, unknown or revoked code) of a closed inventory.
  destructions — `destructions_query(date_from=None, date_to=None, method=None)` is the SELECT of
                 Destruction rows (register order: date, id); `serialize_destruction(d)` and
                 `destruction_rows(d)` (one row per destroyed item, with performer and witnesses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from registry.assets.models import Asset, AssetStatus
from registry.core import audit
from registry.core.errors import Conflict, Forbidden, NotFound, ValidationFailed, violation
from registry.core.labels import extract_code, find_label
from registry.core.models import utcnow
from registry.core.security_events import record_security_event
from registry.people.models import Person
from registry.stocktake import rules
from registry.stocktake.models import Destruction, DestructionMethod, Inventory, InventoryScan, ScanOutcome

_UNSAFE = re.compile(r"[^\w\-./:#]+")


def _check_runner(actor) -> None:
    if actor is not None and not actor.has_role(*rules.RUN_ROLES):
        raise Forbidden(_l("Only a security officer runs inventories and destruction."))


def _username(actor) -> str:
    return getattr(actor, "username", None) or "system"


# ------------------------------------------------------------------ inventories

def _rooms(session, room_ids) -> list:
    from registry.areas.models import Room

    ids = sorted({int(r) for r in (room_ids or [])})
    if not ids:
        return []
    rooms = session.scalars(sa.select(Room).where(Room.id.in_(ids)).order_by(Room.code)).all()
    missing = sorted(set(ids) - {r.id for r in rooms})
    if missing:
        raise ValidationFailed(details={"room_ids": [_l("Unknown room ids: %(ids)s", ids=", ".join(map(str, missing)))]})
    return list(rooms)


def start_inventory(session, room_ids=None, *, actor, note: str = "", now: datetime | None = None) -> Inventory:
    """Start an inventory of the given rooms (none = every room). Refused with 409 `inventory_open`
    while an open inventory overlaps the scope (also guaranteed by a partial unique index)."""
    _check_runner(actor)
    rooms = _rooms(session, room_ids)
    ids = [r.id for r in rooms]
    open_ones = session.scalars(sa.select(Inventory).where(Inventory.closed_at.is_(None))).all()
    rules.check_no_overlap(open_ones, ids)
    inv = Inventory(room_ids=ids, scope_key=rules.scope_key(ids), note=(note or "").strip()[:500],
                    started_at=now or utcnow(), started_by_id=getattr(actor, "id", None), started_by=_username(actor))
    session.add(inv)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(_l("An inventory of these rooms is already open."), code="inventory_open") from None
    audit.record(session, actor=actor, action="inventory.start", entity=inv,
                 data={"room_ids": ids, "rooms": [r.code for r in rooms], "note": inv.note})
    return inv


def _clean_text(text: str) -> str:
    """What is stored of an unreadable scan: a short, harmless excerpt (never rendered raw)."""
    return _UNSAFE.sub("?", (text or "").strip())[:80] or "?"


@dataclass
class ScanResult:
    scan: InventoryScan
    room_changed: bool = False


def record_scan(session, inventory: Inventory, text: str, room_id: int | None, *, actor, base_url: str = "",
                now: datetime | None = None) -> ScanResult:
    """Record one scan of the walk: `text` is a label URL, a bare label code or a registry number,
    read in room `room_id` (which must be in the inventory's scope). A room's own label switches the
    current room; a revoked label is recorded as such (and as a `revoked_label_scanned` event)."""
    from registry.areas.models import Room

    _check_runner(actor)
    rules.check_open(inventory)
    now = now or utcnow()
    room = session.get(Room, room_id) if room_id else None
    code = extract_code(text, base_url)
    label = find_label(session, code) if code else None
    asset = None
    room_changed = False
    stored = code or _clean_text(text)
    if label is not None and label.target_type == "room" and not label.is_revoked:
        room = session.get(Room, label.target_id)
        room_changed = True
        outcome = ScanOutcome.ROOM
    elif label is not None and label.target_type == "asset":
        asset = session.get(Asset, label.target_id)
        outcome = ScanOutcome.REVOKED if label.is_revoked else None
    elif label is None:
        from registry.assets.services import get_by_registry_no

        asset = get_by_registry_no(session, (text or "").strip()[:40])  # a typed registry number
        stored = asset.registry_no if asset is not None else stored
        outcome = None if asset is not None else ScanOutcome.UNKNOWN
    else:
        outcome = ScanOutcome.REVOKED if label is not None and label.is_revoked else ScanOutcome.UNKNOWN
    if room is None:
        raise ValidationFailed(details={"room_id": [_l("Choose the room you are in (or scan its label).")]})
    if not rules.in_scope(inventory, room.id):
        raise ValidationFailed(details={"room_id": [_l("This room is not part of the inventory.")]})
    if outcome is None:
        already = session.scalar(sa.select(sa.func.count(InventoryScan.id)).where(
            InventoryScan.inventory_id == inventory.id, InventoryScan.asset_id == asset.id,
            InventoryScan.room_id == room.id, InventoryScan.outcome.in_(rules.PRESENT))) > 0
        outcome = rules.classify(asset, room.id, already_here=already)
    scan = InventoryScan(inventory_id=inventory.id, at=now, room_id=room.id, code=stored[:80],
                         asset_id=asset.id if asset is not None else None, outcome=outcome,
                         scanned_by_id=getattr(actor, "id", None), scanned_by=_username(actor))
    session.add(scan)
    session.flush()
    audit.record(session, actor=actor, action="inventory.scan", entity=inventory, data={
        "scan_id": scan.id, "room": room.code, "outcome": outcome.value,
        "asset": asset.registry_no if asset is not None else None,
        "code": None if asset is not None or outcome == ScanOutcome.ROOM else stored[:16]})
    if outcome == ScanOutcome.REVOKED:
        record_security_event(session, kind="revoked_label_scanned", actor=actor, reason="label_revoked",
                              subject=asset, subject_type=None if asset is not None else "labels",
                              details={"inventory_id": inventory.id, "room": room.code})
    elif outcome == ScanOutcome.DESTROYED:
        record_security_event(session, kind="destroyed_item_found", actor=actor, reason="asset_destroyed",
                              subject=asset, details={"inventory_id": inventory.id, "room": room.code})
    return ScanResult(scan, room_changed)


def _scan_rows(session, inventory: Inventory):
    return session.execute(sa.select(InventoryScan.asset_id, InventoryScan.outcome, InventoryScan.code,
                                      InventoryScan.room_id)
                            .where(InventoryScan.inventory_id == inventory.id)
                            .order_by(InventoryScan.id)).all()


def _tally(session, inventory: Inventory) -> dict:
    """Expected items, and what the scans found so far (distinct items and codes)."""
    expected = set(session.scalars(sa.select(Asset.id).where(rules.expected_condition(inventory))))
    present: set[int] = set()
    right_room: set[int] = set()
    wrong: set[int] = set()
    found: set[int] = set()
    on_loan_seen: set[int] = set()
    destroyed: set[int] = set()
    unknown: list[str] = []
    revoked: list[str] = []
    for asset_id, outcome, code, _room in _scan_rows(session, inventory):
        outcome = ScanOutcome(outcome)
        if outcome == ScanOutcome.UNKNOWN and code not in unknown:
            unknown.append(code)
        elif outcome == ScanOutcome.REVOKED and code not in revoked:
            revoked.append(code)
        if asset_id is None or outcome not in rules.PRESENT:
            continue
        present.add(asset_id)
        if outcome == ScanOutcome.SEEN:
            right_room.add(asset_id)
        elif outcome == ScanOutcome.WRONG_ROOM:
            wrong.add(asset_id)
        elif outcome == ScanOutcome.FOUND:
            found.add(asset_id)
        elif outcome == ScanOutcome.ON_LOAN:
            on_loan_seen.add(asset_id)
        elif outcome == ScanOutcome.DESTROYED:
            destroyed.add(asset_id)
    return {"expected": expected, "present": present, "wrong": wrong - right_room, "found": found,
            "on_loan_seen": on_loan_seen, "destroyed": destroyed, "unknown": unknown, "revoked": revoked}


def live_counts(session, inventory: Inventory) -> dict:
    """Counts shown after each scan: expected, seen (of the expected), remaining, wrong room, unknown."""
    t = _tally(session, inventory)
    seen = len(t["expected"] & t["present"])
    scans = session.scalar(sa.select(sa.func.count(InventoryScan.id)).where(
        InventoryScan.inventory_id == inventory.id)) or 0
    return {"expected": len(t["expected"]), "seen": seen, "remaining": len(t["expected"]) - seen,
            "wrong_room": len(t["wrong"]), "unknown": len(t["unknown"]), "revoked": len(t["revoked"]),
            "found": len(t["found"]), "on_loan_seen": len(t["on_loan_seen"]), "scans": scans}


def close_inventory(session, inventory: Inventory, *, actor, now: datetime | None = None) -> dict:
    """Close the inventory and reconcile: expected items not seen become `missing` (each with an
    `inventory_missing` security event); missing items seen again become available; items out on
    loan are listed apart (accounted for by their checkout). Returns the result:
    {"missing", "wrong_room", "unknown", "revoked", "out_on_loan", "found", "destroyed_seen",
     "expected", "seen"} (lists of asset ids or codes, and two counts)."""
    from registry.assets import services as custody

    _check_runner(actor)
    rules.check_open(inventory)
    now = now or utcnow()
    t = _tally(session, inventory)
    missing = sorted(t["expected"] - t["present"])
    on_loan = sorted(session.scalars(sa.select(Asset.id).where(rules.on_loan_condition(inventory))))
    done = session.execute(sa.update(Inventory).where(Inventory.id == inventory.id, Inventory.closed_at.is_(None))
                           .values(closed_at=now, closed_by=_username(actor)).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise Conflict(_l("This inventory is closed."), code="inventory_closed", details={"inventory_id": inventory.id})
    for asset in session.scalars(sa.select(Asset).where(Asset.id.in_(missing)).order_by(Asset.registry_no)):
        custody.set_status(session, asset, AssetStatus.MISSING, actor=actor,
                           note=f"inventory #{inventory.id}: not found")
        record_security_event(session, kind="inventory_missing", actor=actor, reason="inventory_missing", subject=asset,
                              details={"inventory_id": inventory.id, "room_id": asset.room_id})
    found = []
    for asset in session.scalars(sa.select(Asset).where(Asset.id.in_(sorted(t["found"])))):
        if asset.status == AssetStatus.MISSING:
            custody.set_status(session, asset, AssetStatus.AVAILABLE, actor=actor,
                               note=f"inventory #{inventory.id}: found again")
            found.append(asset.id)
    result = {"missing": missing, "wrong_room": sorted(t["wrong"]), "unknown": t["unknown"],
              "revoked": t["revoked"], "out_on_loan": on_loan, "found": sorted(found),
              "destroyed_seen": sorted(t["destroyed"]), "expected": len(t["expected"]),
              "seen": len(t["expected"] & t["present"])}
    session.expire(inventory)
    inventory.result = result
    session.flush()
    audit.record(session, actor=actor, action="inventory.close", entity=inventory, data={"result": result})
    return result


def preview_result(session, inventory: Inventory) -> dict:
    """The result the inventory would have if it were closed now (nothing is changed)."""
    t = _tally(session, inventory)
    on_loan = sorted(session.scalars(sa.select(Asset.id).where(rules.on_loan_condition(inventory))))
    return {"missing": sorted(t["expected"] - t["present"]), "wrong_room": sorted(t["wrong"]),
            "unknown": t["unknown"], "revoked": t["revoked"], "out_on_loan": on_loan, "found": sorted(t["found"]),
            "destroyed_seen": sorted(t["destroyed"]), "expected": len(t["expected"]),
            "seen": len(t["expected"] & t["present"])}


def get_inventory(session, inventory_id: int) -> Inventory:
    inv = session.get(Inventory, inventory_id)
    if inv is None:
        raise NotFound()
    return inv


def inventories_query(*, open_: bool | None = None, date_from: date | None = None, date_to: date | None = None):
    """Inventories, open first, newest first. Dates filter on the start (UTC date)."""
    stmt = sa.select(Inventory)
    if open_ is True:
        stmt = stmt.where(Inventory.closed_at.is_(None))
    elif open_ is False:
        stmt = stmt.where(Inventory.closed_at.is_not(None))
    if date_from:
        stmt = stmt.where(Inventory.started_at >= _day_start(date_from))
    if date_to:
        stmt = stmt.where(Inventory.started_at < _day_start(date_to, 1))
    open_first = sa.case((Inventory.closed_at.is_(None), 0), else_=1)
    return stmt.order_by(open_first, Inventory.started_at.desc(), Inventory.id.desc())


def _day_start(day: date, plus_days: int = 0) -> datetime:
    from datetime import time, timedelta, timezone

    return datetime.combine(day + timedelta(days=plus_days), time.min, tzinfo=timezone.utc)


def open_inventories(session) -> list[Inventory]:
    return list(session.scalars(inventories_query(open_=True)))


def recent_scans(session, inventory: Inventory, limit: int = 15) -> list[InventoryScan]:
    return list(session.scalars(sa.select(InventoryScan).where(InventoryScan.inventory_id == inventory.id)
                                .order_by(InventoryScan.id.desc()).limit(limit)))


def scope_rooms(session, inventory: Inventory) -> list:
    """The rooms the walk may be in: the scope, or every active room for an inventory of all rooms."""
    from registry.areas.models import Room

    stmt = sa.select(Room).order_by(Room.code)
    if inventory.covers_all:
        stmt = stmt.where(Room.active.is_(True))
    else:
        stmt = stmt.where(Room.id.in_(inventory.room_ids))
    return list(session.scalars(stmt))


def assets_by_id(session, ids) -> dict[int, Asset]:
    ids = list(ids or [])
    if not ids:
        return {}
    return {a.id: a for a in session.scalars(sa.select(Asset).where(Asset.id.in_(ids)))}


def inventory_findings(session, inventory: Inventory) -> list[dict]:
    """One row per finding of a closed inventory (or of the preview of an open one), for pages and exports:
    {"finding": missing | wrong_room | out_on_loan | found | destroyed_seen | unknown | revoked,
     "asset": Asset | None, "code": str | None, "last_room": Room | None}."""
    result = inventory.result if not inventory.is_open else preview_result(session, inventory)
    ids = [i for key in ("missing", "wrong_room", "out_on_loan", "found", "destroyed_seen") for i in result.get(key, [])]
    assets = assets_by_id(session, ids)
    last_room = {}
    if result.get("wrong_room"):
        for scan in session.scalars(sa.select(InventoryScan).where(
                InventoryScan.inventory_id == inventory.id, InventoryScan.asset_id.in_(result["wrong_room"]))
                .order_by(InventoryScan.id)):
            last_room[scan.asset_id] = scan.room
    rows = []
    for key in ("missing", "wrong_room", "out_on_loan", "found", "destroyed_seen"):
        for asset_id in result.get(key, []):
            rows.append({"finding": key, "asset": assets.get(asset_id), "code": None,
                         "last_room": last_room.get(asset_id)})
    for key in ("unknown", "revoked"):
        for code in result.get(key, []):
            rows.append({"finding": key, "asset": None, "code": code, "last_room": None})
    return rows


def serialize_inventory(inv: Inventory, counts: dict | None = None) -> dict:
    """The SPEC §6 inventory fields (and who started and closed it, and the live counts when given)."""
    data = {"id": inv.id, "room_ids": list(inv.room_ids or []), "started_at": inv.started_at.isoformat(),
            "started_by": inv.started_by, "closed_at": inv.closed_at.isoformat() if inv.closed_at else None,
            "closed_by": inv.closed_by or None, "note": inv.note, "result": inv.result}
    if counts is not None:
        data["counts"] = counts
    return data


def serialize_scan(scan: InventoryScan) -> dict:
    return {"id": scan.id, "inventory_id": scan.inventory_id, "at": scan.at.isoformat(), "room_id": scan.room_id,
            "asset_id": scan.asset_id, "code": scan.code, "outcome": scan.outcome.value,
            "scanned_by": scan.scanned_by}


# ------------------------------------------------------------------ destruction

def _assets_for(session, asset_ids) -> list[Asset]:
    ids = sorted({int(i) for i in (asset_ids or [])})
    if not ids:
        raise ValidationFailed(details={"asset_ids": [_l("Name at least one item.")]})
    assets = list(session.scalars(sa.select(Asset).where(Asset.id.in_(ids)).order_by(Asset.registry_no)))
    missing = sorted(set(ids) - {a.id for a in assets})
    if missing:
        raise ValidationFailed(details={"asset_ids": [_l("Unknown item ids: %(ids)s", ids=", ".join(map(str, missing)))]})
    return assets


def assets_by_registry_no(session, numbers) -> list[Asset]:
    """Items named by registry numbers (pages and CLI); unknown numbers are a validation error."""
    wanted = [n.strip() for n in numbers if n and n.strip()]
    found = {a.registry_no.upper(): a for a in session.scalars(
        sa.select(Asset).where(sa.func.upper(Asset.registry_no).in_([n.upper() for n in wanted])))}
    unknown = [n for n in wanted if n.upper() not in found]
    if unknown:
        raise ValidationFailed(details={"asset_ids": [_l("Unknown registry numbers: %(nos)s", nos=", ".join(unknown))]})
    return list({a.id: a for a in (found[n.upper()] for n in wanted)}.values())


def _people(session, ids, field: str) -> list[Person]:
    ids = [int(i) for i in (ids or [])]
    people = {p.id: p for p in session.scalars(sa.select(Person).where(Person.id.in_(ids)))} if ids else {}
    unknown = [i for i in ids if i not in people]
    if unknown:
        raise ValidationFailed(details={field: [_l("Unknown person.")]})
    return [people[i] for i in ids]


def record_destruction(session, data: dict, *, actor, today: date | None = None) -> Destruction:
    """Record the destruction of a batch of items (销毁) and make each of them `destroyed` for good.

    `data`: asset_ids, method, destroyed_on, approval_id (optional: found by the items), performed_by,
    witness_ids, place, note. Checked in order: the items (`asset_destroyed`, `asset_unavailable`),
    the witnesses (`witness_invalid`), the approval (`approval_required`, `self_approval`).
    The approval is consumed; one audit event for the record, one per item."""
    from registry.approvals.models import Approval
    from registry.approvals import services as approvals
    from registry.assets import services as custody
    from registry.people.services import unit_today

    _check_runner(actor)
    today = today or unit_today()
    assets = _assets_for(session, data.get("asset_ids"))
    errors: dict[str, list] = {}
    try:
        method = DestructionMethod(data.get("method"))
    except ValueError:
        errors["method"] = [_l("Choose a method.")]
    destroyed_on = data.get("destroyed_on") or today
    if destroyed_on > today:
        errors["destroyed_on"] = [_l("The date cannot be in the future.")]
    performer = session.get(Person, data["performed_by"]) if data.get("performed_by") else None
    if performer is None:
        errors["performed_by"] = [_l("Name the person who destroys the items.")]
    elif not performer.is_active:
        errors["performed_by"] = [_l("Must be an active person.")]
    witnesses = _people(session, data.get("witness_ids"), "witness_ids")
    approval = None
    if data.get("approval_id"):
        approval = session.get(Approval, data["approval_id"])
        if approval is None:
            errors["approval_id"] = [_l("Unknown record.")]
    if errors:
        raise ValidationFailed(details=errors)
    rules.check_items(assets)
    rules.check_witnesses(assets, performer, witnesses)
    approval = rules.check_approval(session, approval, assets, performer, witnesses)
    record = Destruction(method=method, destroyed_on=destroyed_on, place=(data.get("place") or "").strip()[:200],
                         approval_id=approval.id, performed_by_id=performer.id,
                         note=(data.get("note") or "").strip()[:1000], recorded_by=_username(actor))
    record.assets = assets
    record.witnesses = witnesses
    session.add(record)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise violation("asset_destroyed", kind=rules.DESTRUCTION_KIND, subject=assets[0], race=True) from None
    approvals.consume(session, approval, actor=actor, used_for=f"destructions#{record.id}")
    for asset in assets:
        custody.mark_destroyed(session, asset, actor=actor, reference=f"destructions#{record.id}")
    audit.record(session, actor=actor, action="destruction.create", entity=record, data={"after": {
        "asset_ids": record.asset_ids, "registry_nos": [a.registry_no for a in assets], "method": method.value,
        "destroyed_on": destroyed_on, "place": record.place, "approval_id": approval.id,
        "performed_by": performer.employee_no, "witnesses": [w.employee_no for w in witnesses]}})
    return record


def request_destruction_approval(session, assets: list[Asset], *, actor, purpose: str):
    """Ask for the destruction approval of exactly these items (approvals kind `destruction`)."""
    from registry.approvals import services as approvals

    _check_runner(actor)
    rules.check_items(assets)
    return approvals.request_approval(session, kind="destruction", actor=actor, purpose=(purpose or "")[:500],
                                      asset_ids=sorted(a.id for a in assets))


def get_destruction(session, destruction_id: int) -> Destruction:
    record = session.get(Destruction, destruction_id)
    if record is None:
        raise NotFound()
    return record


def destructions_query(*, date_from: date | None = None, date_to: date | None = None, method: str | None = None,
                       q: str | None = None):
    """The destruction register, newest first (filters on the destruction date, the method, a registry number)."""
    stmt = sa.select(Destruction)
    if date_from:
        stmt = stmt.where(Destruction.destroyed_on >= date_from)
    if date_to:
        stmt = stmt.where(Destruction.destroyed_on <= date_to)
    if method:
        stmt = stmt.where(Destruction.method == DestructionMethod(method))
    if q and q.strip():
        from registry.core.query import like_pattern
        from registry.stocktake.models import destruction_items

        stmt = stmt.where(sa.exists().where(
            destruction_items.c.destruction_id == Destruction.id, destruction_items.c.asset_id == Asset.id,
            Asset.registry_no.ilike(like_pattern(q.strip()), escape="\\")))
    return stmt.order_by(Destruction.destroyed_on.desc(), Destruction.id.desc())


def serialize_destruction(d: Destruction) -> dict:
    """The SPEC §6 destruction fields (and place, note, who recorded it)."""
    return {"id": d.id, "asset_ids": d.asset_ids, "method": d.method.value, "destroyed_on": d.destroyed_on.isoformat(),
            "approval_id": d.approval_id, "performed_by": d.performed_by_id, "witness_ids": d.witness_ids,
            "place": d.place, "note": d.note, "recorded_by": d.recorded_by, "created_at": d.created_at.isoformat()}


def destruction_rows(d: Destruction) -> list[dict]:
    """One register row per destroyed item (the layout of 销毁登记表)."""
    witnesses = "、".join(w.name for w in d.witnesses)
    return [{"destruction_id": d.id, "destroyed_on": d.destroyed_on, "registry_no": a.registry_no, "kind": a.kind,
             "subtype": a.subtype, "title": a.title, "level": a.level, "doc_no": a.doc_no, "pages": a.pages,
             "copies": a.copies, "custodian": a.custodian.name if a.custodian else "", "method": d.method,
             "place": d.place, "performer": d.performer.name, "witnesses": witnesses, "approval_id": d.approval_id,
             "approver": d.approval.decider.username if d.approval and d.approval.decider else ""}
            for a in d.assets]


def destroyed_count(session) -> int:
    return session.scalar(sa.select(sa.func.count(Asset.id)).where(Asset.status == AssetStatus.DESTROYED)) or 0


def _request_check(session, actor, subject: dict) -> None:
    """Destruction approvals (also through the generic approvals API): officers only, live items only."""
    if actor is not None and not actor.has_role(*rules.RUN_ROLES):
        raise Forbidden(_l("Only a security officer requests destruction approvals."))
    rules.check_items(_assets_for(session, subject.get("asset_ids")))


def register_hooks() -> None:
    from registry.approvals import services as approvals

    approvals.REQUEST_CHECKS["destruction"] = _request_check


register_hooks()
