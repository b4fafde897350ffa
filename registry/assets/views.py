"""Custody pages: item registers, the action page (desk and self-service checkout/checkin),
batch desk, checkout log, scanning (/scan and /s/<code>) and label images and sheets.

Views parse input, call services, commit and render; the rules live in rules.py/services.py.
"""

from __future__ import annotations

from functools import wraps
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request, url_for)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user

from registry.assets import labels as labelling
from registry.assets import rules, scan, services
from registry.assets.forms import (AssetForm, CheckinForm, CheckoutForm, CopyForm, InspectionForm, LabelForm,
                                   StatusForm)
from registry.assets.models import SUBTYPES_BY_KIND, Asset, AssetKind, AssetStatus, Checkout, ReturnCondition
from registry.core.api import doc, register_schema
from registry.core.auth import Unauthenticated, bearer_token, public, roles_required
from registry.core.db import begin_write
from registry.core.errors import DomainError, Forbidden, NotFound, NotVisible, RuleViolation, ValidationFailed
from registry.core.labels import Label, find_label
from registry.core.pages import (apply_form_errors, history, options_html, paginate_page,
                                 paginate_split, people_picker, picked_person_id, picker_max_options)
from registry.core.security_events import SecurityEvent, record_refusal
from registry.core.settings import get_settings
from registry.extensions import db

bp = Blueprint("assets", __name__)

VIEWERS = ("officer", "approver", "inspector", "staff")
DESK = ("officer",)
CUSTODY = ("officer", "staff")
MAX_BATCH = 50


# ------------------------------------------------------------------ helpers

def _home() -> str:
    return get_settings()["home_country"]


@bp.app_template_global("people_options")
def people_options(choices, selected=None):
    return options_html(choices, selected)


@bp.app_template_global("may_see_checkout")
def may_see_checkout(checkout) -> bool:
    """For macros imported without context: the signed-in user may see this loan."""
    return rules.can_view_checkout(current_user, checkout)


@bp.app_template_global("can_view_asset")
def can_view_asset(user, asset) -> bool:
    return rules.can_view_asset(user, asset, _home())


def _visible(asset_id: int) -> Asset:
    """The item, or 404 for an unknown item and for one the user may not see (no oracle)."""
    return rules.visible_asset(db.session, current_user, asset_id, _home())


def _rooms():
    from registry.areas.models import Room

    return db.session.scalars(sa.select(Room).order_by(Room.code)).all()


def _computers():
    """The connected-computer choices of a storage checkout as rows (.id, .registry_no, .level), or None
    when there are more than PICKER_MAX_OPTIONS: the page then asks for the registry number (typed or
    scanned; assets.forms.ComputerField) instead of listing 15,000 computers (issue 8)."""
    limit = picker_max_options()
    rows = db.session.execute(sa.select(Asset.id, Asset.registry_no, Asset.level)
                              .where(Asset.kind == AssetKind.COMPUTER, Asset.status != AssetStatus.DESTROYED)
                              .order_by(Asset.registry_no).limit(limit + 1)).all()
    return rows if len(rows) <= limit else None


def _int_list(name: str) -> list[int]:
    out = []
    for raw in request.form.getlist(name)[:MAX_BATCH]:
        try:
            out.append(int(raw))
        except ValueError:
            continue
    return list(dict.fromkeys(out))


def _refuse(exc: RuleViolation):
    """Record a refusal (rollback, security event, commit) and hand it to the template."""
    record_refusal(db.session, exc, actor=current_user)
    return exc


# ------------------------------------------------------------------ registers

def _person_filter(name: str):
    """A person filter (?custodian_id=, ?borrower_id=): the id, or an employee number typed in the picker."""
    person_id, error = picked_person_id(request.args, name, "all")
    if error:
        flash(error, "warning")
    return person_id


def _filters():
    a = request.args
    return dict(q=a.get("q") or None, kind=a.get("kind") if a.get("kind") in AssetKind.values() else None,
                level=a.get("level") or None, status=a.get("status") if a.get("status") in AssetStatus.values() else None,
                room_id=a.get("room_id", type=int),
                # staff do not read the people register: no picker, no resolving of typed numbers (h4)
                custodian_id=_person_filter("custodian_id") if current_user.has_role(*rules.FULL_READ_ROLES)
                else a.get("custodian_id", type=int),
                overdue=True if a.get("overdue") == "1" else None, sort=a.get("sort") or None)


@bp.get("/items/")
@roles_required(*VIEWERS)
def index():
    filters = _filters()
    try:
        stmt = services.assets_query(current_user, home_country=_home(), **filters)
    except (ValueError, ValidationFailed):
        flash(_("Some filters were not valid and were ignored."), "warning")
        stmt = services.assets_query(current_user, home_country=_home())
    stmt = stmt.options(selectinload(Asset.custodian), selectinload(Asset.room), selectinload(Asset.inspections),
                        selectinload(Asset.open_checkout).selectinload(Checkout.borrower))  # no query per row
    return render_template("assets/index.html", page=paginate_page(stmt), filters=filters, kinds=AssetKind,
                           statuses=AssetStatus, rooms=_rooms(),
                           people=people_picker(db.session, "all") if current_user.has_role(*rules.FULL_READ_ROLES)
                           else None)


@bp.get("/items/<int:asset_id>")
@roles_required(*VIEWERS)
def show(asset_id):
    asset = _visible(asset_id)
    full = current_user.has_role(*rules.FULL_READ_ROLES)
    return render_template(
        "assets/show.html", asset=asset, open_checkout=_own_or_readable(services.open_checkout(db.session, asset)),
        checkouts=db.session.scalars(services.checkouts_query(current_user, asset_id=asset.id).limit(100)).all(),
        labels=db.session.scalars(sa.select(Label).where(Label.target_type == "asset", Label.target_id == asset.id)
                                  .order_by(Label.issued_at.desc())).all() if full else [],
        copies=db.session.scalars(sa.select(Asset).where(Asset.original_id == asset.id).order_by(Asset.copy_no)).all(),
        events=history("assets", asset.id) if full else [],
        security=db.session.scalars(sa.select(SecurityEvent).where(
            SecurityEvent.subject_type == "assets", SecurityEvent.subject_id == asset.id)
            .order_by(SecurityEvent.id.desc()).limit(100)).all() if full else [],
        inspection_form=InspectionForm(), label_form=LabelForm(), status_form=StatusForm())


def _asset_form_page(form, asset=None, status=200, refusal=None):
    return render_template("assets/form.html", form=form, asset=asset, rooms=_rooms(), refusal=refusal,
                           people=people_picker(db.session, "active"), subtypes=SUBTYPES_BY_KIND), status


@bp.route("/items/new", methods=["GET", "POST"])
@roles_required(*DESK)
def create():
    form = AssetForm(kind=request.args.get("kind") if request.args.get("kind") in AssetKind.values() else "media")
    if form.validate_on_submit():
        try:
            asset = services.create_asset(db.session, form.data, actor=current_user)
        except RuleViolation as exc:
            return _asset_form_page(form, status=exc.status, refusal=_refuse(exc))
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Item registered as %(no)s.", no=asset.registry_no), "success")
            return redirect(url_for("assets.show", asset_id=asset.id))
    return _asset_form_page(form, status=422 if form.errors else 200)


@bp.route("/items/<int:asset_id>/edit", methods=["GET", "POST"])
@roles_required(*DESK)
def edit(asset_id):
    asset = _visible(asset_id)
    scope = asset.scope
    form = AssetForm(obj=asset, scope_departments=scope["departments"], scope_person_ids=scope["person_ids"])
    if form.validate_on_submit():
        try:
            changed = services.update_asset(db.session, asset, form.data, actor=current_user)
        except RuleViolation as exc:
            return _asset_form_page(form, asset, status=exc.status, refusal=_refuse(exc))
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
            return redirect(url_for("assets.show", asset_id=asset.id))
    return _asset_form_page(form, asset, status=422 if form.errors else 200)


def _redirect_after(asset_id, message, category="success"):
    flash(message, category)
    return redirect(url_for("assets.show", asset_id=asset_id))


@bp.post("/items/<int:asset_id>/inspections")
@roles_required(*DESK)
def add_inspection(asset_id):
    asset = _visible(asset_id)
    form = InspectionForm()
    if not form.validate_on_submit():
        return _redirect_after(asset.id, " ".join(f"{form[f].label.text}: {' '.join(map(str, m))}"
                                                  for f, m in form.errors.items()), "error")
    try:
        services.add_inspection(db.session, asset, form.data, actor=current_user)
    except RuleViolation as exc:
        return _redirect_after(asset.id, f"{_refuse(exc).message} ({exc.code})", "error")
    db.session.commit()
    return _redirect_after(asset.id, _("Inspection recorded."))


@bp.post("/items/<int:asset_id>/label")
@roles_required(*DESK)
def reissue_label(asset_id):
    asset = _visible(asset_id)
    form = LabelForm()
    form.validate_on_submit()
    try:
        services.reissue_label(db.session, asset, actor=current_user, reason=form.reason.data or "")
    except RuleViolation as exc:
        return _redirect_after(asset.id, f"{_refuse(exc).message} ({exc.code})", "error")
    db.session.commit()
    return _redirect_after(asset.id, _("A new label was issued; the old label is revoked. Print the new one."))


@bp.post("/items/<int:asset_id>/status")
@roles_required(*DESK)
def set_status(asset_id):
    asset = _visible(asset_id)
    form = StatusForm()
    if not form.validate_on_submit():
        return _redirect_after(asset.id, _("Choose a status."), "error")
    try:
        services.set_status(db.session, asset, form.status.data, actor=current_user, note=form.note.data or "")
    except RuleViolation as exc:
        return _redirect_after(asset.id, f"{_refuse(exc).message} ({exc.code})", "error")
    db.session.commit()
    return _redirect_after(asset.id, _("Status changed."))


@bp.route("/items/<int:asset_id>/copy", methods=["GET", "POST"])
@roles_required(*DESK)
def copy(asset_id):
    asset = _visible(asset_id)
    form = CopyForm()
    refusal = None
    if form.validate_on_submit():
        approval = None
        if form.approval_id.data:
            from registry.approvals.services import get_approval

            approval = get_approval(db.session, form.approval_id.data)
        try:
            copies = services.make_copy(db.session, asset, actor=current_user, count=form.count.data, approval=approval)
        except RuleViolation as exc:
            refusal = _refuse(exc)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Registered %(n)d copies: %(nos)s", n=len(copies), nos=", ".join(c.registry_no for c in copies)),
                  "success")
            return redirect(url_for("assets.show", asset_id=asset.id))
    from registry.approvals import services as approvals

    usable = approvals.find_usable(db.session, "copy", asset_id=asset.id)
    return render_template("assets/copy.html", asset=asset, form=form, refusal=refusal, usable=usable,
                           needs_approval=rules.copy_needs_approval(asset)), refusal.status if refusal else (
        422 if form.errors else 200)


# ------------------------------------------------------------------ custody: the action page

def _act(asset, *, form=None, checkin_form=None, refusal=None, status=200):
    """The item's action page: facts, and check out / check in for this user (≤ 2 screens after a scan)."""
    settings = get_settings()
    current = _own_or_readable(services.open_checkout(db.session, asset))
    preview = None
    if current_user.role.value == "staff" and current_user.person is not None and asset.status == AssetStatus.AVAILABLE:
        try:
            preview = services.evaluate_checkout(db.session, asset, current_user.person, actor=current_user,
                                                 settings=settings)
        except DomainError:
            preview = None
    approval = None
    if current_user.has_role(*DESK) and asset.status == AssetStatus.AVAILABLE and rules.APPROVAL_FROM <= asset.level:
        from registry.approvals.models import Approval, ApprovalKind, ApprovalStatus

        approval = db.session.scalars(sa.select(Approval).where(
            Approval.kind == ApprovalKind.CHECKOUT, Approval.asset_id == asset.id,
            Approval.status == ApprovalStatus.APPROVED).order_by(Approval.decided_at)).all()
    return render_template(
        "assets/act.html", asset=asset, current=current, form=form or CheckoutForm(),
        checkin_form=checkin_form or CheckinForm(), refusal=refusal, preview=preview, approvals=approval or [],
        people=people_picker(db.session, "active") if current_user.has_role(*DESK) else None,
        computers=_computers() if asset.kind == AssetKind.STORAGE else [],
        default_due=rules.default_due(asset.level, services.utcnow(), settings),
        max_due=rules.max_due(asset.level, services.utcnow(), settings)), status


def _own_or_readable(checkout):
    """The open checkout if the user may see it (their own, or a full reader); staff never learn
    who else holds an item, nor until when."""
    return checkout if rules.can_view_checkout(current_user, checkout) else None


@bp.get("/items/<int:asset_id>/act")
@roles_required(*VIEWERS)
def act(asset_id):
    return _act(_visible(asset_id))


@bp.post("/items/<int:asset_id>/checkout")
@roles_required(*CUSTODY)
def checkout(asset_id):
    asset = _visible(asset_id)
    form = CheckoutForm()
    if current_user.role.value == "staff":
        form.borrower_id.data = current_user.person_id  # self-service: only to oneself (rule 9)
    if not form.validate_on_submit():
        return _act(asset, form=form, status=422)
    try:
        record = services.checkout(db.session, asset, services.get_person(db.session, form.borrower_id.data),
                                   actor=current_user, purpose=form.purpose.data, due_at=form.due_at.data,
                                   approval=services.get_approval_or_none(db.session, form.approval_id.data),
                                   device=services.get_asset_or_none(db.session, form.device_id.data))
    except RuleViolation as exc:
        return _act(asset, form=form, refusal=_refuse(exc), status=exc.status)
    except ValidationFailed as exc:
        db.session.rollback()
        apply_form_errors(form, exc)
        return _act(asset, form=form, status=422)
    # the message before the commit: after it, reading the expired record opens another write transaction
    message = _("Checked out to %(name)s, due %(due)s.", name=record.borrower.name,
                due=format_datetime(record.due_at, "yyyy-MM-dd HH:mm"))
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("assets.act", asset_id=asset_id))


@bp.post("/items/<int:asset_id>/checkin")
@roles_required(*DESK)
def checkin(asset_id):
    asset = _visible(asset_id)
    form = CheckinForm()
    if not form.validate_on_submit():
        return _act(asset, checkin_form=form, status=422)
    try:
        record = services.checkin(db.session, asset, actor=current_user, condition=form.condition.data,
                                  note=form.note.data or "")
    except RuleViolation as exc:
        return _act(asset, checkin_form=form, refusal=_refuse(exc), status=exc.status)
    if record.condition == ReturnCondition.INTACT:  # read before the commit (see checkout)
        message, category = _("Checked in, intact."), "success"
    else:
        message, category = _("Checked in as %(cond)s; a return discrepancy was recorded.",
                              cond=record.condition.label), "warning"
    db.session.commit()
    flash(message, category)
    return redirect(url_for("assets.act", asset_id=asset_id))


# ------------------------------------------------------------------ checkout log

@bp.get("/checkouts/")
@roles_required(*VIEWERS)
def checkouts():
    a = request.args
    open_ = {"1": True, "0": False}.get(a.get("open"))
    overdue = True if a.get("overdue") == "1" else None
    full = current_user.has_role(*rules.FULL_READ_ROLES)
    stmt = services.checkouts_query(current_user, open_=open_, overdue=overdue,
                                    borrower_id=_person_filter("borrower_id") if full else a.get("borrower_id", type=int),
                                    asset_id=a.get("asset_id", type=int))
    # open first, newest first: two index-ordered reads instead of sorting the whole log (issue 8)
    page = (paginate_split(stmt, Checkout.returned_at.is_(None), (Checkout.out_at.desc(), Checkout.id.desc()))
            if open_ is None and not overdue else paginate_page(stmt))
    return render_template("assets/checkouts.html", page=page, overdue=overdue, open_=open_,
                           now=services.utcnow(), people=people_picker(db.session, "all") if full else None)


# ------------------------------------------------------------------ batch desk

def _resolve_item(text: str):
    """An item from scanner input for the batch desk: (asset, message). Revoked labels are recorded."""
    settings = get_settings()
    found = scan.resolve_input(db.session, current_user, text, base_url=settings["base_url"], home_country=_home())
    if found.label is not None and found.label.is_revoked:
        begin_write(db.session)
        scan.record_revoked_scan(db.session, current_user, found)
        db.session.commit()
        if found.outcome == "revoked":
            return None, _("This label has been revoked; the scan was recorded.")
    if found.outcome != "ok" or found.target_type != "asset":
        return None, _("No item found for this code.")
    return db.session.get(Asset, found.target_id), None


def _cart(text_field: str = "code") -> tuple[list[Asset], str | None]:
    """The items already scanned (hidden fields) plus the one just scanned, and a message."""
    ids = [i for i in _int_list("items") if str(i) != request.form.get("remove")]
    items = [a for a in (db.session.get(Asset, i) for i in ids)
             if a is not None and rules.can_view_asset(current_user, a, _home())]
    message = None
    text = (request.form.get(text_field) or "").strip()
    if text and request.form.get("action", "add") == "add":
        asset, message = _resolve_item(text)
        if asset is not None and asset.id in {a.id for a in items}:
            message = _("%(no)s is already in the list.", no=asset.registry_no)
        elif asset is not None and len(items) >= MAX_BATCH:
            message = _("At most %(n)d items at once.", n=MAX_BATCH)
        elif asset is not None:
            items.append(asset)
    return items, message


@bp.route("/desk/checkout", methods=["GET", "POST"])
@roles_required(*DESK)
def desk_checkout():
    form = CheckoutForm()
    items, message = _cart() if request.method == "POST" else ([], None)
    if request.method == "POST" and request.form.get("action") == "confirm" and form.validate_on_submit() and items:
        try:
            results = services.checkout_batch(db.session, items, services.get_person(db.session, form.borrower_id.data),
                                              actor=current_user, purpose=form.purpose.data, due_at=form.due_at.data)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            return render_template("assets/desk_result.html", results=results, mode="checkout")
    previews = services.preview_batch(db.session, items, form.borrower_id.data, actor=current_user,
                                      due_at=form.due_at.data)
    return render_template("assets/desk.html", mode="checkout", form=form, items=items, previews=previews,
                           message=message, people=people_picker(db.session, "active"))


@bp.route("/desk/checkin", methods=["GET", "POST"])
@roles_required(*DESK)
def desk_checkin():
    form = CheckinForm()
    items, message = _cart() if request.method == "POST" else ([], None)
    if request.method == "POST" and request.form.get("action") == "confirm" and items:
        pairs = [(a, request.form.get(f"condition_{a.id}", "intact")) for a in items]
        pairs = [(a, c if c in ReturnCondition.values() else "intact") for a, c in pairs]
        results = services.checkin_batch(db.session, pairs, actor=current_user, note=request.form.get("note", "")[:2000])
        db.session.commit()
        return render_template("assets/desk_result.html", results=results, mode="checkin")
    return render_template("assets/desk.html", mode="checkin", form=form, items=items, previews={},
                           message=message, conditions=ReturnCondition, people=[])


# ------------------------------------------------------------------ scanning

@bp.route("/scan", methods=["GET", "POST"])
@roles_required(*VIEWERS)
def scan_page():
    if request.method == "GET":
        return render_template("assets/scan.html")
    settings = get_settings()
    found = scan.resolve_input(db.session, current_user, request.form.get("code", ""),
                               base_url=settings["base_url"], home_country=_home())
    if found.outcome == "ok":
        return redirect(found.url)
    if found.label is not None and found.label.is_revoked:
        scan.record_revoked_scan(db.session, current_user, found)
        db.session.commit()
    if found.outcome == "revoked":
        return render_template("assets/scan.html", revoked=True), 410
    return render_template("assets/scan.html", unknown=True), 404


@bp.get("/s/<code>")
@public
def scan_code(code):
    """What a label's QR encodes. Anonymous: one generic page for every code (no lookup at all).
    Signed in: the item's action page if allowed; a revoked code is refused and recorded; an
    unknown code and one the user may not see get the same 'nothing here' page."""
    if not current_user.is_authenticated:
        return render_template("assets/scan_public.html")
    found = scan.resolve_code(db.session, current_user, code[:60], home_country=_home())
    if found.outcome == "ok":  # a read: no write lock for the common case (issue 8)
        return redirect(found.url)
    if found.label is not None and found.label.is_revoked:
        begin_write(db.session)  # a GET that records a revoked-label scan
        scan.record_revoked_scan(db.session, current_user, found)
        db.session.commit()
    if found.outcome == "revoked":
        return render_template("assets/scan.html", revoked=True), 410
    return render_template("assets/scan_nothing.html"), 404


# ------------------------------------------------------------------ labels

def signed_in_or_bearer(*roles):
    """A signed-in user or a bearer token (label images are fetched by scripts and printers too),
    whose role is among `roles` (admin always passes)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user if current_user.is_authenticated else None
            if user is None and bearer_token():
                from registry.auth.services import resolve_token

                user = resolve_token(db.session, bearer_token())
            if user is None:
                raise Unauthenticated()
            if not user.has_role(*roles):
                raise Forbidden()
            return view(user, *args, **kwargs)

        wrapped.required_roles = roles
        return wrapped

    return decorator


def _label_allowed(user, label: Label) -> bool:
    if label.target_type == "asset":
        asset = db.session.get(Asset, label.target_id)
        return asset is not None and rules.can_view_asset(user, asset, _home())
    return user.has_role(*rules.FULL_READ_ROLES)


register_schema("QrSvg", {"type": "string", "contentMediaType": "image/svg+xml"})
register_schema("QrPng", {"type": "string", "contentMediaType": "image/png"})


@bp.get("/labels/<code>.svg")
@signed_in_or_bearer(*VIEWERS)
@doc("QR image (SVG) of a label: encodes <base URL>/s/<code>", tags=["labels"], response="QrSvg",
     content_type="image/svg+xml", errors=(401, 404, 410))
def label_svg(user, code):
    return _label_image(user, code, "svg")


@bp.get("/labels/<code>.png")
@signed_in_or_bearer(*VIEWERS)
@doc("QR image (PNG) of a label: encodes <base URL>/s/<code>", tags=["labels"], response="QrPng",
     content_type="image/png", errors=(401, 404, 410))
def label_png(user, code):
    return _label_image(user, code, "png")


def _label_image(user, code: str, fmt: str):
    """The cached QR image of a label the user may see; 404 unknown or not allowed, 410 revoked."""
    label = find_label(db.session, code)
    if label is None:
        raise NotFound()
    if not _label_allowed(user, label):
        raise NotVisible(db.session.get(Asset, label.target_id) if label.target_type == "asset" else None)
    if label.is_revoked:
        raise DomainError(_("This label has been revoked."), code="label_revoked", status=410)
    data = labelling.qr_image(label.code, fmt, base_url=get_settings()["base_url"], cache_dir=_qr_cache())
    resp = Response(data, mimetype="image/svg+xml" if fmt == "svg" else "image/png")
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return resp


def _qr_cache() -> Path:
    base = Path(current_app.config.get("CACHE_DIR") or "cache")
    return (base if base.is_absolute() else Path(current_app.instance_path) / base) / "qr"


def _geometry():
    key = request.args.get("geometry") or labelling.DEFAULT_GEOMETRY
    if key == "custom":
        return labelling.custom_geometry(request.args.get("w", 50, type=float), request.args.get("h", 30, type=float))
    return labelling.GEOMETRIES.get(key) or labelling.GEOMETRIES[labelling.DEFAULT_GEOMETRY]


@bp.get("/print/labels")
@roles_required(*DESK)
def label_sheet():
    ids = request.args.getlist("asset_ids", type=int)[:400]
    room_ids = request.args.getlist("room_ids", type=int)[:400]
    geometry = _geometry()
    items = services.label_views(db.session, ids, room_ids, unit=get_settings()["unit_short_name"])
    # Each QR comes from the label cache (rendered once per code) and is embedded as a data: URI, so a
    # sheet is one request instead of one more per label (issue 8: 1,000 labels in < 1 s when cached).
    base_url, cache = get_settings()["base_url"], _qr_cache()
    qr = labelling.qr_data_uris([l.code for l in items], base_url=base_url, cache_dir=cache)
    return render_template("labels/sheet.html", sheets=labelling.sheets(items, geometry), geometry=geometry,
                           geometries=labelling.GEOMETRIES.values(), count=len(items), asset_ids=ids,
                           room_ids=room_ids, qr=qr)


@bp.get("/print/labels/custom.css")
@roles_required(*DESK)
def custom_css():
    geometry = labelling.custom_geometry(request.args.get("w", 50, type=float), request.args.get("h", 30, type=float))
    resp = Response(labelling.custom_css(geometry), mimetype="text/css")
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp




# ------------------------------------------------------------------ dashboard

def _tiles(user):
    """Counts by status, overdue checkouts, pending approvals (officers, approvers, inspectors);
    a staff member sees their own loans."""
    from flask_babel import lazy_gettext as _l

    from registry.core.dashboard import Tile

    if user.has_role(*rules.FULL_READ_ROLES):
        counts = services.counts_by_status(db.session)
        overdue = services.overdue_count(db.session)
        tiles = [Tile(_l("Items available"), counts.get("available", 0), url_for("assets.index", status="available")),
                 Tile(_l("Items checked out"), counts.get("checked_out", 0),
                      url_for("assets.checkouts", open="1")),
                 Tile(_l("Overdue checkouts"), overdue, url_for("assets.checkouts", overdue="1"), warn=bool(overdue))]
        if counts.get("missing"):
            tiles.append(Tile(_l("Items missing"), counts["missing"], url_for("assets.index", status="missing"),
                              warn=True))
        if user.has_role("approver", "officer"):
            from registry.approvals.services import pending_count

            pending = pending_count(db.session)
            tiles.append(Tile(_l("Pending approvals"), pending, url_for("approvals.inbox", status="pending"),
                              warn=bool(pending) and user.has_role("approver")))
        return tiles
    if user.role.value == "staff":
        mine = db.session.scalar(sa.select(sa.func.count(Checkout.id)).where(
            Checkout.borrower_id == (user.person_id or -1), Checkout.returned_at.is_(None)))
        overdue = services.overdue_count(db.session, user)
        return [Tile(_l("My checkouts"), mine, url_for("assets.checkouts", open="1")),
                Tile(_l("My overdue items"), overdue, url_for("assets.checkouts", overdue="1"), warn=bool(overdue))]
    return []


def _register_tiles():
    from registry.core.dashboard import TILE_PROVIDERS

    if _tiles not in TILE_PROVIDERS:
        TILE_PROVIDERS.append(_tiles)


_register_tiles()
