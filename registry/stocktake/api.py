"""Inventory and destruction endpoints of the JSON API (SPEC §6)."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from registry.core.api import (api_blueprint, bool_arg, doc, json_body, paginate, register_schema,
                               validate_with)
from registry.core.auth import roles_required
from registry.core.errors import ValidationFailed
from registry.core.settings import get_settings
from registry.extensions import db
from registry.stocktake import rules, services
from registry.stocktake.forms import DestructionForm, InventoryForm, ScanForm
from registry.stocktake.models import DestructionMethod, ScanOutcome

bp = api_blueprint("stocktake_api", __name__)

_ids = {"type": "array", "items": {"type": "integer"}}
_codes = {"type": "array", "items": {"type": "string"}}
RESULT = {"type": "object", "properties": {
    "missing": _ids, "wrong_room": _ids, "unknown": _codes, "revoked": _codes, "out_on_loan": _ids, "found": _ids,
    "destroyed_seen": _ids, "expected": {"type": "integer"}, "seen": {"type": "integer"}}}
COUNTS = {"type": "object", "properties": {k: {"type": "integer"} for k in (
    "expected", "seen", "remaining", "wrong_room", "unknown", "revoked", "found", "on_loan_seen", "scans")}}
register_schema("InventoryResult", RESULT)
register_schema("Inventory", {"type": "object", "properties": {
    "id": {"type": "integer"}, "room_ids": _ids, "started_at": {"type": "string", "format": "date-time"},
    "started_by": {"type": "string"}, "closed_at": {"type": ["string", "null"], "format": "date-time"},
    "closed_by": {"type": ["string", "null"]}, "note": {"type": "string"},
    "result": {"oneOf": [RESULT, {"type": "null"}]}, "counts": COUNTS}})
register_schema("InventoryScan", {"type": "object", "properties": {
    "id": {"type": "integer"}, "inventory_id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
    "room_id": {"type": ["integer", "null"]}, "asset_id": {"type": ["integer", "null"]}, "code": {"type": "string"},
    "outcome": {"type": "string", "enum": ScanOutcome.values()}, "scanned_by": {"type": "string"},
    "counts": COUNTS}})
register_schema("Destruction", {"type": "object", "properties": {
    "id": {"type": "integer"}, "asset_ids": _ids, "method": {"type": "string", "enum": DestructionMethod.values()},
    "destroyed_on": {"type": "string", "format": "date"}, "approval_id": {"type": "integer"},
    "performed_by": {"type": "integer"}, "witness_ids": _ids, "place": {"type": "string"}, "note": {"type": "string"},
    "recorded_by": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"}}})


# ------------------------------------------------------------------ inventories

@bp.get("/inventories")
@roles_required(*rules.READ_ROLES)
@doc("List inventories (open first, newest first)", tags=["inventories"], response="Inventory", list_of=True,
     errors=(422,), query=[("open", "boolean", "only open (true) or closed (false) inventories")])
def list_inventories():
    return paginate(services.inventories_query(open_=bool_arg("open")), services.serialize_inventory)


@bp.post("/inventories")
@roles_required(*rules.RUN_ROLES)
@doc("Start an inventory of some rooms ({\"room_ids\": []} = every room); 409 inventory_open when one overlaps",
     tags=["inventories"], body=InventoryForm, response="Inventory", status=201, errors=(409, 422))
def start_inventory():
    form = validate_with(InventoryForm, json_body(allow_empty=True))
    inv = services.start_inventory(db.session, form.room_ids.data or [], actor=current_user, note=form.note.data or "")
    db.session.commit()
    return services.serialize_inventory(inv, services.live_counts(db.session, inv)), 201


@bp.get("/inventories/<int:inventory_id>")
@roles_required(*rules.READ_ROLES)
@doc("Read an inventory with its live counts (and, while open, the result it would have now as `preview`)",
     tags=["inventories"], response="Inventory")
def get_inventory(inventory_id):
    inv = services.get_inventory(db.session, inventory_id)
    data = services.serialize_inventory(inv, services.live_counts(db.session, inv))
    if inv.is_open:
        data["preview"] = services.preview_result(db.session, inv)
    return data


@bp.post("/inventories/<int:inventory_id>/scans")
@roles_required(*rules.RUN_ROLES)
@doc("Record a scan {\"code\": label code, label URL or registry number, \"room_id\"}; answers the scan's outcome "
     "and the live counts", tags=["inventories"], body=ScanForm, response="InventoryScan", status=201,
     errors=(409, 422))
def add_scan(inventory_id):
    inv = services.get_inventory(db.session, inventory_id)
    form = validate_with(ScanForm, json_body())
    result = services.record_scan(db.session, inv, form.code.data, form.room_id.data, actor=current_user,
                                  base_url=get_settings()["base_url"])
    db.session.commit()
    data = services.serialize_scan(result.scan)
    data["counts"] = services.live_counts(db.session, inv)
    return data, 201


@bp.post("/inventories/<int:inventory_id>/close")
@roles_required(*rules.RUN_ROLES)
@doc("Close and reconcile: unseen expected items become missing; answers {\"missing\", \"wrong_room\", \"unknown\", …}",
     tags=["inventories"], response="InventoryResult", errors=(409,))
def close_inventory(inventory_id):
    inv = services.get_inventory(db.session, inventory_id)
    result = services.close_inventory(db.session, inv, actor=current_user)
    db.session.commit()
    return result


# ------------------------------------------------------------------ destructions

@bp.get("/destructions")
@roles_required(*rules.READ_ROLES)
@doc("The destruction register (newest first)", tags=["destructions"], response="Destruction", list_of=True,
     errors=(422,), query=[("method", "string", "shredding | pulping | incineration | degaussing | physical | other"),
                           ("q", "string", "registry number")])
def list_destructions():
    method = request.args.get("method")
    if method and method not in DestructionMethod.values():
        raise ValidationFailed(details={"method": [f"one of: {', '.join(DestructionMethod.values())}"]})
    return paginate(services.destructions_query(method=method, q=request.args.get("q")), services.serialize_destruction)


@bp.post("/destructions")
@roles_required(*rules.RUN_ROLES)
@doc("Record a destruction; refused with asset_destroyed, asset_unavailable, witness_invalid, approval_required or "
     "self_approval", tags=["destructions"], body=DestructionForm, response="Destruction", status=201,
     errors=(403, 409, 422))
def create_destruction():
    form = validate_with(DestructionForm, json_body())
    record = services.record_destruction(db.session, form.data, actor=current_user)
    db.session.commit()
    return services.serialize_destruction(record), 201


@bp.get("/destructions/<int:destruction_id>")
@roles_required(*rules.READ_ROLES)
@doc("Read a destruction record", tags=["destructions"], response="Destruction")
def get_destruction(destruction_id):
    return services.serialize_destruction(services.get_destruction(db.session, destruction_id))
