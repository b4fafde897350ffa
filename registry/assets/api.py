"""Custody endpoints of the JSON API (SPEC §6): assets, labels, scanning, checkout, checkin, log."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from registry.assets import rules, scan, services
from registry.assets.forms import AssetForm, CheckinForm, CheckoutForm, CopyForm, InspectionForm, LabelForm
from registry.assets.labels import qr_payload
from registry.assets.models import Asset, AssetKind, AssetStatus, Network, ReturnCondition
from registry.core.api import (api_blueprint, bool_arg, doc, int_arg, json_body, paginate, register_schema,
                               validate_with)
from registry.core.auth import roles_required
from registry.core.db import begin_write
from registry.core.errors import NotFound, ValidationFailed, violation
from registry.core.models import Level
from registry.core.settings import get_settings
from registry.extensions import db

bp = api_blueprint("assets_api", __name__)

VIEWERS = ("officer", "approver", "inspector", "staff")
_s = {"type": "string"}
_int_or_null = {"type": ["integer", "null"]}
_time = {"type": "string", "format": "date-time"}
_time_or_null = {"type": ["string", "null"], "format": "date-time"}
register_schema("Asset", {"type": "object", "properties": {
    "id": {"type": "integer"}, "registry_no": _s, "kind": {"type": "string", "enum": AssetKind.values()},
    "subtype": _s, "title": _s, "level": {"type": "string", "enum": Level.values()},
    "secrecy_years": _int_or_null, "declassify_on": {"type": ["string", "null"], "format": "date"},
    "custodian_id": _int_or_null, "room_id": _int_or_null,
    "status": {"type": "string", "enum": AssetStatus.values()}, "serial_no": _s, "model": _s,
    "copies": _int_or_null, "pages": _int_or_null, "copy_no": _int_or_null, "original_id": _int_or_null,
    "doc_no": _s, "originator": _s, "network": {"type": ["string", "null"], "enum": Network.values() + [None]},
    "hdd_serial": _s, "mac": _s, "os": _s, "ip": _s, "capacity": _s, "foreign_supplied": {"type": "boolean"},
    "scope": {"type": "object", "properties": {"departments": {"type": "array", "items": _s},
                                               "person_ids": {"type": "array", "items": {"type": "integer"}}}},
    "label_code": {"type": ["string", "null"]}, "notes": _s}})
register_schema("Checkout", {"type": "object", "properties": {
    "id": {"type": "integer"}, "asset_id": {"type": "integer"}, "borrower_id": {"type": "integer"}, "purpose": _s,
    "out_at": _time, "due_at": _time, "approval_id": _int_or_null, "device_id": _int_or_null,
    "handled_by": _int_or_null, "self_service": {"type": "boolean"}, "returned_at": _time_or_null,
    "received_by": _int_or_null, "condition": {"type": ["string", "null"], "enum": ReturnCondition.values() + [None]},
    "note": _s, "overdue": {"type": "boolean"}}})
register_schema("LabelCode", {"type": "object", "properties": {
    "asset_id": {"type": "integer"}, "label_code": _s, "qr_url": _s}})
register_schema("ScanResult", {"type": "object", "required": ["type", "id", "url"], "properties": {
    "type": {"type": "string", "enum": ["asset", "room", "visitor"]}, "id": {"type": "integer"}, "url": _s}})
register_schema("Copies", {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Asset"}}}})
register_schema("Inspection", {"type": "object", "properties": {
    "id": {"type": "integer"}, "asset_id": {"type": "integer"}, "date": {"type": "string", "format": "date"},
    "inspector": _s, "result": {"type": "string", "enum": ["passed", "failed"]}, "notes": _s}})

ASSET_BODY = {"type": "object", "required": ["kind", "title", "level"], "properties": {
    **{name: {"type": "string"} for name in ("registry_no", "subtype", "title", "serial_no", "model", "doc_no",
                                             "originator", "hdd_serial", "mac", "os", "ip", "capacity", "notes")},
    "kind": {"type": "string", "enum": AssetKind.values()}, "level": {"type": "string", "enum": Level.values()},
    "network": {"type": ["string", "null"], "enum": Network.values() + [None]},
    **{name: {"type": ["integer", "null"]} for name in ("secrecy_years", "custodian_id", "room_id", "pages",
                                                        "copies", "copy_no")},
    "declassify_on": {"type": ["string", "null"], "format": "date"}, "foreign_supplied": {"type": "boolean"},
    "scope": {"type": "object", "properties": {"departments": {"type": "array", "items": {"type": "string"}},
                                               "person_ids": {"type": "array", "items": {"type": "integer"}}}}}}


def _home() -> str:
    return get_settings()["home_country"]


def _visible(asset_id: int) -> Asset:
    return rules.visible_asset(db.session, current_user, asset_id, _home())


def _enum_arg(name, values):
    value = request.args.get(name)
    if value and value not in values:
        raise ValidationFailed(details={name: [f"one of: {', '.join(values)}"]})
    return value or None


def _asset_body() -> dict:
    """The JSON body with SPEC's `scope` object mapped onto the form's two scope fields."""
    body = json_body()
    if "scope" in body:
        scope = body.pop("scope")
        if scope is None:
            scope = {}
        if not isinstance(scope, dict) or set(scope) - {"departments", "person_ids"}:
            raise ValidationFailed(details={"scope": ['{"departments": [...], "person_ids": [...]}']})
        body["scope_departments"] = list(scope.get("departments") or [])
        body["scope_person_ids"] = list(scope.get("person_ids") or [])
    return body


@bp.get("/assets")
@roles_required(*VIEWERS)
@doc("List items the caller may see", tags=["assets"], response="Asset", list_of=True, errors=(422,), query=[
    ("kind", "string", "media | computer | storage | equipment"), ("status", "string", "available | checked_out | …"),
    ("level", "string", "classification level"), ("room_id", "integer", "home room"),
    ("custodian_id", "integer", "custodian (person id)"), ("q", "string", "registry number, title, serials"),
    ("overdue", "boolean", "only items whose checkout is overdue"), ("sort", "string", "registry_no, -level …")])
def list_assets():
    stmt = services.assets_query(
        current_user, q=request.args.get("q"), kind=_enum_arg("kind", AssetKind.values()),
        status=_enum_arg("status", AssetStatus.values()), level=_enum_arg("level", Level.values()),
        room_id=int_arg("room_id"), custodian_id=int_arg("custodian_id"), overdue=bool_arg("overdue"),
        sort=request.args.get("sort"), home_country=_home())
    return paginate(stmt, services.serialize)


@bp.post("/assets")
@roles_required("officer")
@doc("Register an item (registry number generated unless given); answers it with its label code",
     tags=["assets"], body=ASSET_BODY, response="Asset", status=201, errors=(403, 422))
def create_asset():
    form = validate_with(AssetForm, _asset_body())
    asset = services.create_asset(db.session, form.data, actor=current_user)
    db.session.commit()
    return services.serialize(asset), 201


@bp.get("/assets/<int:asset_id>")
@roles_required(*VIEWERS)
@doc("Read an item", tags=["assets"], response="Asset")
def get_asset(asset_id):
    return services.serialize(_visible(asset_id))


@bp.patch("/assets/<int:asset_id>")
@roles_required("officer")
@doc("Edit an item (partial). Refused: destroyed items, lowering a computer's or storage's level, "
     "placing uninspected foreign-supplied equipment in a room of level ≥ confidential",
     tags=["assets"], body=ASSET_BODY, response="Asset", errors=(403, 409, 422))
def update_asset(asset_id):
    asset = _visible(asset_id)
    base = services.serialize(asset)
    base.update(scope_departments=base["scope"]["departments"], scope_person_ids=base["scope"]["person_ids"])
    form = validate_with(AssetForm, _asset_body(), base=base)
    services.update_asset(db.session, asset, form.data, actor=current_user)
    db.session.commit()
    return services.serialize(asset)


@bp.post("/assets/<int:asset_id>/label")
@roles_required("officer")
@doc("Reissue the item's label: a new code; the old one is revoked", tags=["assets"], body=LabelForm,
     response="LabelCode", errors=(409,))
def reissue_label(asset_id):
    asset = _visible(asset_id)
    form = validate_with(LabelForm, json_body(allow_empty=True))
    label = services.reissue_label(db.session, asset, actor=current_user, reason=form.reason.data or "")
    db.session.commit()
    return {"asset_id": asset.id, "label_code": label.code, "qr_url": qr_payload(label.code, get_settings()["base_url"])}


@bp.post("/assets/<int:asset_id>/inspections")
@roles_required("officer")
@doc("Record a secrecy inspection of a device", tags=["assets"], body=InspectionForm, response="Inspection",
     status=201, errors=(409, 422))
def add_inspection(asset_id):
    asset = _visible(asset_id)
    form = validate_with(InspectionForm, json_body())
    i = services.add_inspection(db.session, asset, form.data, actor=current_user)
    db.session.commit()
    return {"id": i.id, "asset_id": asset.id, "date": i.date.isoformat(), "inspector": i.inspector,
            "result": i.result.value, "notes": i.notes}, 201


@bp.post("/assets/<int:asset_id>/copies")
@roles_required("officer")
@doc("Register copies (复制) of an item; level ≥ confidential needs an approved copy approval",
     tags=["assets"], body=CopyForm, response="Copies", status=201, errors=(403, 409, 422))
def make_copies(asset_id):
    asset = _visible(asset_id)
    form = validate_with(CopyForm, json_body())
    copies = services.make_copy(db.session, asset, actor=current_user, count=form.count.data,
                                approval=services.get_approval_or_none(db.session, form.approval_id.data))
    db.session.commit()
    return {"items": [services.serialize(c) for c in copies]}, 201


@bp.post("/assets/<int:asset_id>/checkout")
@roles_required("officer", "staff")
@doc("Check an item out (SPEC §4 rules 1–10; staff: self-service only). 403/409/422 name the reason code",
     tags=["checkouts"], body=CheckoutForm, response="Checkout", status=201, errors=(403, 409, 422))
def checkout(asset_id):
    asset = _visible(asset_id)
    form = validate_with(CheckoutForm, json_body())
    record = services.checkout(db.session, asset, services.get_person(db.session, form.borrower_id.data),
                               actor=current_user, purpose=form.purpose.data, due_at=form.due_at.data,
                               approval=services.get_approval_or_none(db.session, form.approval_id.data),
                               device=services.get_asset_or_none(db.session, form.device_id.data))
    body = services.serialize_checkout(record)  # before the commit: after it, reading the expired record
    db.session.commit()                         # would open a second write transaction (BEGIN IMMEDIATE)
    return body, 201


@bp.post("/assets/<int:asset_id>/checkin")
@roles_required("officer")
@doc("Check an item in with its return condition; anything but intact records a return_discrepancy",
     tags=["checkouts"], body=CheckinForm, response="Checkout", errors=(409, 422))
def checkin(asset_id):
    asset = _visible(asset_id)
    form = validate_with(CheckinForm, json_body())
    record = services.checkin(db.session, asset, actor=current_user, condition=form.condition.data,
                              note=form.note.data or "")
    body = services.serialize_checkout(record)  # the record as updated, read in this transaction
    db.session.commit()
    return body


@bp.get("/checkouts")
@roles_required(*VIEWERS)
@doc("The checkout log (staff: their own)", tags=["checkouts"], response="Checkout", list_of=True, errors=(422,),
     query=[("open", "boolean", "not yet returned"), ("overdue", "boolean", "open and past due"),
            ("borrower_id", "integer", ""), ("asset_id", "integer", "")])
def list_checkouts():
    stmt = services.checkouts_query(current_user, open_=bool_arg("open"), overdue=bool_arg("overdue"),
                                    borrower_id=int_arg("borrower_id"), asset_id=int_arg("asset_id"))
    return paginate(stmt, services.serialize_checkout)


@bp.get("/scan/<code>")
@roles_required()
@doc("Resolve a label code (asset, room or visitor badge); 404 unknown or not allowed, 410 revoked (recorded)",
     tags=["scan"], response="ScanResult", errors=(404, 410))
def scan_code(code):
    found = scan.resolve_code(db.session, current_user, code[:60], home_country=_home())
    if found.outcome == "ok":  # a read: no write lock for the common case (issue 8)
        return {"type": found.target_type, "id": found.target_id, "url": found.url}
    if found.outcome == "revoked":
        raise violation("label_revoked", kind="revoked_label_scanned", subject=_subject(found),
                        label=f"{found.label.code[:4]}…", target_type=found.target_type)
    if found.label is not None and found.label.is_revoked:
        begin_write(db.session)  # a revoked code is recorded even though this is a GET
        scan.record_revoked_scan(db.session, current_user, found)
        db.session.commit()
    raise NotFound()


def _subject(found):
    return db.session.get(Asset, found.target_id) if found.target_type == "asset" else None
