"""Room pages: list, detail (with staff access list and history), create and edit."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.areas import services
from registry.areas.forms import AccessForm, RoomForm
from registry.areas.models import ForeignPolicy, RoomAccess
from registry.core.auth import READ_REGISTERS, roles_required
from registry.core.errors import NotFound, ValidationFailed
from registry.core.pages import apply_form_errors, history, paginate_page, people_picker
from registry.extensions import db
from registry.people.services import get_person

bp = Blueprint("areas", __name__, url_prefix="/rooms")


@bp.get("/")
@roles_required(*READ_REGISTERS, "guard")
def index():
    a = request.args
    try:
        stmt = services.rooms_query(q=a.get("q"), level=a.get("level") or None,
                                    foreign_policy=a.get("foreign_policy") or None, sort=a.get("sort") or None)
    except (ValueError, ValidationFailed):
        flash(_("Some filters were not valid and were ignored."), "warning")
        stmt = services.rooms_query()
    return render_template("areas/index.html", page=paginate_page(stmt), policies=ForeignPolicy)


@bp.get("/<int:room_id>")
@roles_required(*READ_REGISTERS, "guard")
def show(room_id):
    room = services.get_room(db.session, room_id)
    return render_template("areas/show.html", room=room, access=services.access_list(db.session, room),
                           events=history("rooms", room.id) if current_user.role.value != "guard" else [],
                           access_form=AccessForm(formdata=None),
                           people=people_picker(db.session, "active") if current_user.has_role("officer") else None)


@bp.route("/new", methods=["GET", "POST"])
@roles_required("officer")
def create():
    form = RoomForm()
    if form.validate_on_submit():
        try:
            room = services.create_room(db.session, form.data, actor=current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Room registered."), "success")
            return redirect(url_for("areas.show", room_id=room.id))
    return render_template("areas/form.html", form=form, room=None), 422 if form.errors else 200


@bp.route("/<int:room_id>/edit", methods=["GET", "POST"])
@roles_required("officer")
def edit(room_id):
    room = services.get_room(db.session, room_id)
    form = RoomForm(obj=room)
    if request.method == "GET":
        form.level.data = room.level.value
        form.foreign_policy.data = room.foreign_policy.value
    if form.validate_on_submit():
        try:
            changed = services.update_room(db.session, room, form.data, actor=current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
            return redirect(url_for("areas.show", room_id=room.id))
    return render_template("areas/form.html", form=form, room=room), 422 if form.errors else 200


@bp.post("/<int:room_id>/access")
@roles_required("officer")
def grant(room_id):
    room = services.get_room(db.session, room_id)
    form = AccessForm()
    if form.validate_on_submit():
        try:
            services.grant_access(db.session, room, get_person(db.session, form.person_id.data), actor=current_user)
            db.session.commit()
            flash(_("Added to the access list."), "success")
        except (ValidationFailed, NotFound):
            db.session.rollback()
            flash(_("This person cannot be added (unknown or already listed)."), "error")
    elif form.person_id.errors:
        flash(" ".join(map(str, form.person_id.errors)), "error")
    return redirect(url_for("areas.show", room_id=room.id))


@bp.post("/<int:room_id>/access/<int:access_id>/revoke")
@roles_required("officer")
def revoke(room_id, access_id):
    access = db.session.get(RoomAccess, access_id)
    if access is None or access.room_id != room_id:
        raise NotFound()
    services.revoke_access(db.session, access, actor=current_user)
    db.session.commit()
    flash(_("Removed from the access list."), "success")
    return redirect(url_for("areas.show", room_id=room_id))
