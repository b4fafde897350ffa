"""Inventory pages: start, scan-as-you-walk on a phone, reconcile and close."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.core.auth import roles_required
from registry.core.errors import Conflict, DomainError, RuleViolation, ValidationFailed
from registry.core.pages import history, paginate_page, refused
from registry.core.settings import get_settings
from registry.extensions import db
from registry.stocktake import rules, services
from registry.stocktake.forms import InventoryForm, ScanForm
from registry.stocktake.models import InventoryScan, ScanOutcome

bp = Blueprint("stocktake", __name__, url_prefix="/stocktake")


def _messages(exc: DomainError) -> str:
    parts = [str(m) for ms in (exc.details or {}).values() if isinstance(ms, list) for m in ms]
    return " ".join(parts) or str(exc.message)


# ------------------------------------------------------------------ inventories

@bp.get("/inventories")
@roles_required(*rules.READ_ROLES)
def inventories():
    """Inventories (open first) and the form to start one."""
    from registry.areas.models import Room

    rooms = db.session.scalars(sa.select(Room).where(Room.active.is_(True)).order_by(Room.code)).all()
    return render_template("stocktake/inventories.html", page=paginate_page(services.inventories_query()),
                           rooms=rooms, form=InventoryForm())


@bp.post("/inventories")
@roles_required(*rules.RUN_ROLES)
def start():
    form = InventoryForm()
    if not form.validate_on_submit():
        flash(_messages(ValidationFailed(details=form.errors)), "error")
        return redirect(url_for("stocktake.inventories"))
    try:
        inv = services.start_inventory(db.session, form.room_ids.data or [], actor=current_user,
                                       note=form.note.data or "")
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        flash(_messages(exc), "error")
        return redirect(url_for("stocktake.inventories"))
    db.session.commit()
    flash(_("Inventory started. Walk the rooms and scan every item."), "success")
    return redirect(url_for("stocktake.walk", inventory_id=inv.id))


@bp.get("/inventories/<int:inventory_id>")
@roles_required(*rules.READ_ROLES)
def inventory(inventory_id):
    """One inventory: counts, findings (the result, or a preview while open), and the scans."""
    inv = services.get_inventory(db.session, inventory_id)
    scans = paginate_page(sa.select(InventoryScan).where(InventoryScan.inventory_id == inv.id)
                          .order_by(InventoryScan.id.desc()), per_page=100)
    return render_template("stocktake/inventory.html", inv=inv, counts=services.live_counts(db.session, inv),
                           findings=services.inventory_findings(db.session, inv), scans=scans,
                           rooms=services.scope_rooms(db.session, inv), events=history("inventories", inv.id))


def _walk_context(inv, room_id, last=None, error=None):
    rooms = services.scope_rooms(db.session, inv)
    room = next((r for r in rooms if r.id == room_id), None)
    return {"inv": inv, "rooms": rooms, "room": room, "counts": services.live_counts(db.session, inv),
            "recent": services.recent_scans(db.session, inv, 8), "last": last, "error": error, "form": ScanForm(),
            "outcomes": ScanOutcome}


def _room_arg():
    try:
        return int(request.values.get("room_id") or 0) or None
    except ValueError:
        return None


@bp.get("/inventories/<int:inventory_id>/walk")
@roles_required(*rules.RUN_ROLES)
def walk(inventory_id):
    """The phone page: pick the room once, then scan item after item (camera or wedge scanner)."""
    inv = services.get_inventory(db.session, inventory_id)
    if not inv.is_open:
        flash(_("This inventory is closed."), "info")
        return redirect(url_for("stocktake.inventory", inventory_id=inv.id))
    last = None
    if request.args.get("last"):
        last = db.session.get(InventoryScan, int(request.args["last"])) if request.args["last"].isdigit() else None
        last = last if last is not None and last.inventory_id == inv.id else None
    return render_template("stocktake/walk.html", **_walk_context(inv, _room_arg(), last))


@bp.post("/inventories/<int:inventory_id>/walk")
@roles_required(*rules.RUN_ROLES)
def scan(inventory_id):
    """Record one scan; answers the refreshed panel to htmx, else redirects back to the walk page."""
    inv = services.get_inventory(db.session, inventory_id)
    form = ScanForm()
    room_id = _room_arg()
    partial = request.headers.get("HX-Request") == "true"
    last = error = None
    if form.validate_on_submit():
        try:
            result = services.record_scan(db.session, inv, form.code.data, room_id, actor=current_user,
                                          base_url=get_settings()["base_url"])
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            error = _messages(exc)
        else:
            db.session.commit()
            last = result.scan
            room_id = result.scan.room_id
    else:
        error = _messages(ValidationFailed(details=form.errors))
    if partial:
        return render_template("stocktake/_walk_panel.html", **_walk_context(inv, room_id, last, error))
    if error:
        flash(error, "error")
    return redirect(url_for("stocktake.walk", inventory_id=inv.id, room_id=room_id, last=last.id if last else None))


@bp.post("/inventories/<int:inventory_id>/close")
@roles_required(*rules.RUN_ROLES)
def close(inventory_id):
    inv = services.get_inventory(db.session, inventory_id)
    try:
        result = services.close_inventory(db.session, inv, actor=current_user)
    except Conflict as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    except RuleViolation as exc:
        refused(exc)
    else:
        db.session.commit()
        flash(_("Inventory closed. Missing: %(missing)d · wrong room: %(wrong)d · unknown labels: %(unknown)d.",
                missing=len(result["missing"]), wrong=len(result["wrong_room"]), unknown=len(result["unknown"])),
              "warning" if result["missing"] else "success")
    return redirect(url_for("stocktake.inventory", inventory_id=inv.id))
