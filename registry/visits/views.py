"""Visitor pages (register, block list, permissions, entry log, badges) and the guard station."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import segno
import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from registry.areas.models import Room
from registry.areas.services import access_list, get_room
from registry.cooperation.services import project_choices
from registry.core.auth import READ_REGISTERS, roles_required
from registry.core.dashboard import TILE_PROVIDERS, Tile
from registry.core.db import begin_write
from registry.core.errors import REASONS, Conflict, DomainError, NotFound, RuleViolation, ValidationFailed
from registry.core.models import utcnow
from registry.core.pages import apply_form_errors, history, paginate_page, people_picker, refused
from registry.core.security_events import record_refusal, record_security_event
from registry.core.settings import get_settings
from registry.core.urls import external_url
from registry.extensions import db
from registry.people.services import get_person
from registry.visits import rules, services
from registry.visits.forms import (ApprovalRequestForm, BlockForm, EntryForm, PermissionForm, RevokeForm, VisitorForm,
                                   devices_from_form)
from registry.visits.models import DeviceDisposition, DeviceKind, Visit, Visitor

bp = Blueprint("visits", __name__)

GATE = ("guard", "officer")
LOOKUP = (*READ_REGISTERS, "guard")
BADGE_SHEETS = {"a4-2x7": ("sheet-a4-2x7", 14), "a4-3x8": ("sheet-a4-3x8", 24), "tape-62x29": ("tape-62x29", 0)}
FLAG_TEXT = {"blocked": _l("Blocked"), "window_over": _l("Visit window over"),
             "permission_lapsed": _l("Permission lapsed")}


@bp.context_processor
def _helpers():
    from registry.core.countries import name as country_name

    return {"country_name": country_name, "mask_id_doc": rules.mask_id_doc, "device_kinds": DeviceKind,
            "dispositions": DeviceDisposition}


def _tz():
    return get_settings()["timezone"]


def _zone() -> ZoneInfo:
    try:
        return ZoneInfo(_tz() or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _today():
    return rules.local_date(utcnow(), _tz())


def _arg_int(name):
    value = request.values.get(name, type=int)
    return value if value and 0 < value < 2**31 else None


def _bool_filter(name):
    return {"1": True, "0": False}.get(request.args.get(name, ""))


# ================================================================ visitor register

@bp.get("/visitors")
@roles_required(*READ_REGISTERS)
def visitors():
    a = request.args
    try:
        stmt = services.visitors_query(q=a.get("q"), foreign=_bool_filter("foreign"), blocked=_bool_filter("blocked"),
                                       inside=_bool_filter("inside"), project_id=_arg_int("project"),
                                       sort=a.get("sort") or None)
    except (ValueError, ValidationFailed):
        flash(_("Some filters were not valid and were ignored."), "warning")
        stmt = services.visitors_query()
    stmt = stmt.options(selectinload(Visitor.host))  # no query per row (issue 8)
    return render_template("visits/visitors.html", page=paginate_page(stmt), projects=project_choices(db.session),
                           home=services.site()[0])


@bp.get("/visitors/blocked")
@roles_required(*READ_REGISTERS)
def blocklist():
    stmt = services.visitors_query(blocked=True, sort="name")
    return render_template("visits/blocklist.html", page=paginate_page(stmt), home=services.site()[0])


def _visitor_form_choices(form):
    return {"people": people_picker(db.session, "active"), "projects": project_choices(db.session)}


@bp.route("/visitors/new", methods=["GET", "POST"])
@roles_required("officer")
def visitor_new():
    form = VisitorForm()
    if form.validate_on_submit():
        try:
            visitor = services.create_visitor(db.session, form.data, actor=current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Visitor registered."), "success")
            return redirect(url_for("visits.visitor_show", visitor_id=visitor.id))
    return render_template("visits/visitor_form.html", form=form, visitor=None,
                           **_visitor_form_choices(form)), 422 if form.errors else 200


@bp.route("/visitors/<int:visitor_id>/edit", methods=["GET", "POST"])
@roles_required("officer")
def visitor_edit(visitor_id):
    visitor = services.get_visitor(db.session, visitor_id)
    form = VisitorForm(obj=visitor)
    if request.method == "GET":
        form.id_doc_type.data = visitor.id_doc_type.value
    if form.validate_on_submit():
        try:
            changed = services.update_visitor(db.session, visitor, form.data, actor=current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
            return redirect(url_for("visits.visitor_show", visitor_id=visitor.id))
    return render_template("visits/visitor_form.html", form=form, visitor=visitor,
                           **_visitor_form_choices(form)), 422 if form.errors else 200


@bp.get("/visitors/<int:visitor_id>")
@roles_required(*LOOKUP)
def visitor_show(visitor_id):
    """A visitor's record; also where a scanned badge leads (/api/v1/scan resolves here)."""
    visitor = services.get_visitor(db.session, visitor_id)
    now = utcnow()
    perms = db.session.scalars(services.permissions_query(visitor_id=visitor.id)).unique().all()
    visits = db.session.scalars(services.visits_query(visitor_id=visitor.id).limit(50)).unique().all()
    rooms = db.session.scalars(sa.select(Room).where(Room.active.is_(True)).order_by(Room.code)).all()
    start = now.replace(second=0, microsecond=0)
    perm_form = PermissionForm(formdata=None, valid_from=start, valid_until=start + timedelta(hours=8))
    return render_template(
        "visits/visitor_show.html", visitor=visitor, home=services.site()[0], now=now, permissions=perms,
        visits=visits, current=services.open_visit(db.session, visitor), rooms=rooms, perm_form=perm_form,
        block_form=BlockForm(formdata=None), approval_form=ApprovalRequestForm(formdata=None),
        id_doc=rules.mask_id_doc(visitor.id_doc_no, current_user),
        in_window=rules.in_visit_window(visitor, _today()),
        events=history("visitors", visitor.id) if current_user.has_role(*READ_REGISTERS) else [])


@bp.post("/visitors/<int:visitor_id>/block")
@roles_required("officer")
def visitor_block(visitor_id):
    visitor = services.get_visitor(db.session, visitor_id)
    form = BlockForm()
    if not form.validate_on_submit():
        flash(_("Give the reason for blocking this visitor."), "error")
    else:
        services.block_visitor(db.session, visitor, form.reason.data, actor=current_user)
        db.session.commit()
        flash(_("The visitor is on the block list."), "success")
    return redirect(url_for("visits.visitor_show", visitor_id=visitor.id))


@bp.post("/visitors/<int:visitor_id>/unblock")
@roles_required("officer")
def visitor_unblock(visitor_id):
    visitor = services.get_visitor(db.session, visitor_id)
    services.unblock_visitor(db.session, visitor, actor=current_user)
    db.session.commit()
    flash(_("The visitor was taken off the block list."), "success")
    if request.form.get("back") == "blocklist":
        return redirect(url_for("visits.blocklist"))
    return redirect(url_for("visits.visitor_show", visitor_id=visitor.id))


# ================================================================ permissions

def _flash_errors(exc_or_form):
    details = exc_or_form.details if isinstance(exc_or_form, DomainError) else exc_or_form.errors
    for messages in details.values():
        for m in messages:
            flash(str(m), "error")


@bp.post("/visitors/<int:visitor_id>/permissions")
@roles_required("officer")
def permission_new(visitor_id):
    visitor = services.get_visitor(db.session, visitor_id)
    form = PermissionForm()
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(url_for("visits.visitor_show", visitor_id=visitor.id))
    try:
        room = get_room(db.session, form.room_id.data)
        services.grant_permission(db.session, visitor, room, form.data, actor=current_user)
    except RuleViolation as exc:
        refused(exc)
    except (ValidationFailed, NotFound) as exc:
        db.session.rollback()
        _flash_errors(exc) if isinstance(exc, ValidationFailed) else flash(_("Unknown room."), "error")
    else:
        db.session.commit()
        flash(_("Permission granted."), "success")
    return redirect(url_for("visits.visitor_show", visitor_id=visitor.id))


@bp.post("/permissions/<int:permission_id>/revoke")
@roles_required("officer")
def permission_revoke(permission_id):
    permission = services.get_permission(db.session, permission_id)
    form = RevokeForm()
    services.revoke_permission(db.session, permission, actor=current_user,
                               reason=form.reason.data if form.validate_on_submit() else "")
    db.session.commit()
    flash(_("Permission revoked."), "success")
    return redirect(url_for("visits.visitor_show", visitor_id=permission.visitor_id))


@bp.post("/visitors/<int:visitor_id>/approvals")
@roles_required("officer")
def approval_request(visitor_id):
    visitor = services.get_visitor(db.session, visitor_id)
    form = ApprovalRequestForm()
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(url_for("visits.visitor_show", visitor_id=visitor.id))
    try:
        approval = services.request_permission_approval(db.session, visitor, get_room(db.session, form.room_id.data),
                                                        purpose=form.purpose.data, actor=current_user)
    except RuleViolation as exc:
        refused(exc)
    except (Conflict, ValidationFailed, NotFound) as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("Approval requested (#%(id)d). An approver decides it in the approvals inbox.", id=approval.id),
              "success")
    return redirect(url_for("visits.visitor_show", visitor_id=visitor.id))


@bp.get("/permissions")
@roles_required(*READ_REGISTERS)
def permissions():
    room_id = _arg_int("room")
    active = request.args.get("active") == "1"
    stmt = services.permissions_query(room_id=room_id, active_at=utcnow() if active else None,
                                      include_revoked=request.args.get("revoked") != "0")
    rooms = db.session.scalars(sa.select(Room).order_by(Room.code)).all()
    return render_template("visits/permissions.html", page=paginate_page(stmt), rooms=rooms, now=utcnow())


@bp.get("/visits")
@roles_required(*READ_REGISTERS)
def visits_log():
    day_from, day_to = _date_arg("from"), _date_arg("to")
    zone = _zone()
    stmt = services.visits_query(
        room_id=_arg_int("room"), visitor_id=_arg_int("visitor"), open_only=_bool_filter("open"),
        start=datetime.combine(day_from, time.min, tzinfo=zone) if day_from else None,
        end=datetime.combine(day_to, time.max, tzinfo=zone) if day_to else None)
    rooms = db.session.scalars(sa.select(Room).order_by(Room.code)).all()
    return render_template("visits/visits.html", page=paginate_page(stmt), rooms=rooms)


def _date_arg(name):
    from datetime import date

    raw = request.args.get(name) or ""
    try:
        return date.fromisoformat(raw[:10]) if raw else None
    except ValueError:
        flash(_("Some filters were not valid and were ignored."), "warning")
        return None


# ================================================================ badges

def badge_qr(visitor) -> str:
    """SVG data URI of the badge QR: the configured base URL + /s/<badge code> (segno.make_qr)."""
    url = external_url(get_settings()["base_url"], f"/s/{visitor.badge_code}")
    return segno.make_qr(url, error="m").svg_data_uri(border=2, dark="#000", light="#fff")


@bp.get("/visitors/badges")
@roles_required(*GATE)
def badges():
    """Printable visitor badges: ?ids=1&ids=2 (or ?ids=1,2) and sheet=a4-2x7 | a4-3x8 | tape-62x29."""
    ids = []
    for raw in request.args.getlist("ids"):
        ids += [int(p) for p in raw.split(",") if p.strip().isdigit()]
    ids = ids[:200]
    if not ids:
        abort(404)
    visitors = [services.get_visitor(db.session, i) for i in dict.fromkeys(ids)]
    sheet = request.args.get("sheet") if request.args.get("sheet") in BADGE_SHEETS else "tape-62x29"
    css, per_sheet = BADGE_SHEETS[sheet]
    items = [(v, badge_qr(v)) for v in visitors if v.badge_code]
    chunks = [items[i:i + per_sheet] for i in range(0, len(items), per_sheet)] if per_sheet else [items]
    return render_template("visits/badges.html", chunks=chunks, sheet_class=css, sheet=sheet, sheets=BADGE_SHEETS,
                           ids=ids, home=services.site()[0])


@bp.post("/visitors/<int:visitor_id>/badge")
@roles_required("officer")
def badge_reissue(visitor_id):
    visitor = services.get_visitor(db.session, visitor_id)
    services.reissue_badge(db.session, visitor, actor=current_user, reason=(request.form.get("reason") or "lost")[:200])
    db.session.commit()
    flash(_("A new badge code was issued; the old badge no longer works."), "success")
    return redirect(url_for("visits.visitor_show", visitor_id=visitor.id))


# ================================================================ guard station

def _board_context():
    now = utcnow()
    today = _today()
    visits = services.inside_now(db.session)
    flags = {v.id: rules.visit_flags(v, now=now, today=today) for v in visits}
    return {"groups": services.inside_by_room(visits), "total": len(visits), "flags": flags,
            "flag_text": FLAG_TEXT, "now": now, "home": services.site()[0]}


def _room_context(room, escort_error=None):
    # many candidates: a search box (person picker) instead of a select of every escort (issue 8)
    escorts = people_picker(db.session, "escort", room_id=room.id if room else None)
    listed, others = ([], []) if escorts.search else services.escort_choices(db.session, room)
    return {"room": room, "access": access_list(db.session, room) if room else [],
            "occupants": services.occupants(db.session, room) if room else [],
            "escorts": escorts, "escorts_listed": listed, "escorts_other": others, "escort_error": escort_error}


def _rooms():
    return db.session.scalars(sa.select(Room).where(Room.active.is_(True)).order_by(Room.code)).all()


def _record_revoked_badge(label) -> None:
    """A revoked badge was scanned at the station: refuse and leave a trace (SPEC §4)."""
    db.session.rollback()
    begin_write(db.session)
    record_security_event(db.session, kind="revoked_label_scanned", actor=current_user, reason="label_revoked",
                          subject_type="labels", subject_id=label.id,
                          subject_label=f"visitor badge …{label.code[-4:]}",
                          details={"target_type": "visitor", "target_id": label.target_id, "where": "guard station"})
    db.session.commit()


def _station(*, visitor=None, room=None, escort_id=None, devices=None, refusal=None, code="",
             candidates=None, searched=False, status=200, escort_error=None):
    current = services.open_visit(db.session, visitor) if visitor else None
    perms = []
    if visitor is not None:
        perms = [p for p in db.session.scalars(services.permissions_query(visitor_id=visitor.id,
                                                                          include_revoked=False)).unique()
                 if p.valid_until >= utcnow()]
    outcome = None
    raw = session.pop("guard_outcome", None)
    if isinstance(raw, dict) and raw.get("visit_id"):
        visit = db.session.get(Visit, int(raw["visit_id"]))
        if visit is not None:
            outcome = {"kind": raw.get("kind"), "visit": visit}
    chosen_devices = {d["kind"]: d["disposition"] for d in (devices or [])}
    return render_template(
        "visits/guard.html", visitor=visitor, current=current, permissions=perms, rooms=_rooms(),
        escort_id=escort_id, devices=chosen_devices, device_kinds=DeviceKind, dispositions=DeviceDisposition,
        device_note=next((d.get("note") for d in (devices or []) if d.get("note")), ""),
        refusal=refusal, outcome=outcome, code=code[:300], candidates=candidates or [], searched=searched,
        id_doc=rules.mask_id_doc(visitor.id_doc_no, current_user) if visitor else "",
        in_window=rules.in_visit_window(visitor, _today()) if visitor else True,
        expected=services.expected_on(db.session, _today(), limit=20), **_room_context(room, escort_error),
        **_board_context(),
    ), status


def _refusal(code: str, message=None) -> dict:
    return {"code": code, "message": str(message or REASONS.get(code, (0, code))[1])}


@bp.get("/guard")
@roles_required(*GATE)
def guard():
    """The guard station: scan or search a badge, pick room and escort, Enter / Exit."""
    code = (request.args.get("code") or "").strip()[:300]
    visitor = services.get_visitor(db.session, _arg_int("visitor")) if _arg_int("visitor") else None
    room = db.session.get(Room, _arg_int("room")) if _arg_int("room") else None
    refusal, candidates = None, []
    if code and visitor is None:
        visitor, revoked, candidates = services.find_visitors(db.session, code, base_url=get_settings()["base_url"])
        if revoked is not None:
            _record_revoked_badge(revoked)
            refusal = _refusal("label_revoked", _("This badge has been revoked (lost or replaced). Do not admit; "
                                                  "call the security office."))
        if visitor is not None:
            return redirect(url_for("visits.guard", visitor=visitor.id, room=room.id if room else None))
    return _station(visitor=visitor, room=room, refusal=refusal, code=code, candidates=candidates,
                    searched=bool(code))[0]


@bp.post("/guard/enter")
@roles_required(*GATE)
def guard_enter():
    form = EntryForm()
    visitor = services.get_visitor(db.session, form.visitor_id.data) if form.visitor_id.data else None
    room = db.session.get(Room, form.room_id.data) if form.room_id.data else None
    try:
        devices = devices_from_form(request.form)
    except ValidationFailed:
        devices = []
    if visitor is None or not form.validate_on_submit() or room is None:
        escort_error = " ".join(map(str, form.escort_id.errors)) or None
        flash(escort_error if visitor is not None and room is not None and escort_error
              else _("Choose a visitor and a room."), "error")
        return _station(visitor=visitor, room=room, escort_id=form.escort_id.data, devices=devices, status=422,
                        escort_error=escort_error)
    escort = get_person(db.session, form.escort_id.data) if form.escort_id.data else None
    try:
        visit = services.enter(db.session, visitor, room, escort=escort, devices=devices, note=form.note.data or "",
                               actor=current_user)
    except RuleViolation as exc:
        record_refusal(db.session, exc, actor=current_user)
        return _station(visitor=visitor, room=room, escort_id=form.escort_id.data, devices=devices,
                        refusal=_refusal(exc.code, exc.message), status=exc.status)
    db.session.commit()
    session["guard_outcome"] = {"kind": "entered", "visit_id": visit.id}
    return redirect(url_for("visits.guard", visitor=visitor.id))


@bp.post("/guard/exit")
@roles_required(*GATE)
def guard_exit():
    visit = services.get_visit(db.session, _arg_int("visit_id") or 0)
    visitor = visit.visitor
    try:
        services.exit_visit(db.session, visit, actor=current_user)
    except RuleViolation as exc:
        record_refusal(db.session, exc, actor=current_user)
        return _station(visitor=visitor, refusal=_refusal(exc.code, exc.message), status=exc.status)
    db.session.commit()
    session["guard_outcome"] = {"kind": "exited", "visit_id": visit.id}
    return redirect(url_for("visits.guard", visitor=visitor.id))


@bp.get("/guard/board")
@roles_required(*GATE)
def guard_board():
    """The live "inside now" board (an HTML fragment; the station polls it)."""
    return render_template("visits/_board.html", **_board_context())


@bp.get("/guard/room")
@roles_required(*GATE)
def guard_room():
    """The picked room's panel (escort choice, staff access list, who is inside): a fragment."""
    room_id = _arg_int("room_id") or _arg_int("room")
    room = db.session.get(Room, room_id) if room_id else None
    return render_template("visits/_room_panel.html", escort_id=_arg_int("escort_id"), **_room_context(room))


@bp.get("/guard/end-of-day")
@roles_required(*GATE)
def end_of_day():
    """Visitors still inside at the end of the day, with today's entry and exit counts."""
    zone = _zone()
    start = datetime.combine(_today(), time.min, tzinfo=zone)
    entries = db.session.scalar(sa.select(sa.func.count(Visit.id)).where(Visit.entered_at >= start)) or 0
    exits = db.session.scalar(sa.select(sa.func.count(Visit.id)).where(Visit.exited_at >= start)) or 0
    return render_template("visits/end_of_day.html", entries=entries, exits=exits, today=_today(),
                           **_board_context())


@bp.get("/guard/rollcall")
@roles_required(*GATE)
def rollcall():
    """Evacuation roll call: everyone inside now, by room, with a tick column; prints."""
    return render_template("visits/rollcall.html", **_board_context())


# ================================================================ dashboard

def _tiles(user):
    if not user.has_role("officer", "inspector"):
        return []
    now = utcnow()
    inside = services.inside_count(db.session)
    expiring = db.session.scalar(sa.select(sa.func.count()).select_from(
        services.permissions_query(expiring_before=now + timedelta(days=7)).where(
            services.AreaPermission.valid_until >= now).order_by(None).subquery())) or 0
    blocked = db.session.scalar(sa.select(sa.func.count()).select_from(
        services.visitors_query(blocked=True).order_by(None).subquery())) or 0
    return [
        Tile(_l("Visitors inside now"), inside, url_for("visits.visits_log", open=1)),
        Tile(_l("Area permissions ending within 7 days"), expiring, url_for("visits.permissions", active=1)),
        Tile(_l("Visitors on the block list"), blocked, url_for("visits.blocklist")),
    ]


TILE_PROVIDERS.append(_tiles)


# ================================================================ scanning a badge

def _visitor_scan_url(session, user, target_id: int, home_country: str) -> str | None:
    """Where a scanned visitor badge leads: guards to their station with the visitor picked,
    other readers to the visitor's record; anyone else learns nothing (None)."""
    if user.role.value == "guard":
        return url_for("visits.guard", visitor=target_id)
    if user.has_role(*LOOKUP):
        return url_for("visits.visitor_show", visitor_id=target_id)
    return None


def _register_scan_target() -> None:
    try:
        from registry.assets import scan
    except ImportError:  # the custody domain is optional for visits
        return
    scan.SCAN_TARGETS["visitor"] = _visitor_scan_url


_register_scan_target()
