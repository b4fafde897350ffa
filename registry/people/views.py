"""Personnel pages: list with search and filters, detail with history, create and edit."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.core.auth import READ_REGISTERS, roles_required
from registry.core.errors import ValidationFailed
from registry.core.errors import RuleViolation
from registry.core.pages import apply_form_errors, history, paginate_page, refused
from registry.core.settings import get_settings
from registry.extensions import db
from registry.people import services
from registry.people.forms import PersonForm, ReminderForm, TrainingForm
from registry.people.models import PersonStatus

bp = Blueprint("people", __name__, url_prefix="/people")


@bp.get("/")
@roles_required(*READ_REGISTERS)
def index():
    a = request.args
    try:
        stmt = services.people_query(q=a.get("q"), department=a.get("department") or None,
                                     category=a.get("category") or None, status=a.get("status") or None,
                                     sort=a.get("sort") or None)
    except (ValueError, ValidationFailed):
        stmt = services.people_query()
        flash(_("Some filters were not valid and were ignored."), "warning")
    return render_template("people/index.html", page=paginate_page(stmt), departments=services.departments(db.session),
                           statuses=PersonStatus, home=get_settings()["home_country"])


@bp.get("/<int:person_id>")
@roles_required(*READ_REGISTERS)
def show(person_id):
    person = services.get_person(db.session, person_id)
    held = services.held_items(db.session, person, None)
    return render_template("people/show.html", person=person, events=history("persons", person.id), held=held,
                           home=get_settings()["home_country"], training_form=TrainingForm(),
                           reminder_form=ReminderForm())


@bp.route("/new", methods=["GET", "POST"])
@roles_required("officer")
def create():
    form = PersonForm()
    if form.validate_on_submit():
        try:
            person = services.create_person(db.session, form.data, actor=current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Person registered."), "success")
            return redirect(url_for("people.show", person_id=person.id))
    return render_template("people/form.html", form=form, person=None), 422 if form.errors else 200


@bp.route("/<int:person_id>/edit", methods=["GET", "POST"])
@roles_required("officer")
def edit(person_id):
    person = services.get_person(db.session, person_id)
    form = PersonForm(obj=person)
    if request.method == "GET":
        form.category.data = person.category.value
        form.status.data = person.status.value
    if form.validate_on_submit():
        try:
            changed = services.update_person(db.session, person, form.data, actor=current_user,
                                             home_country=get_settings()["home_country"])
        except RuleViolation as exc:
            refused(exc)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
            return redirect(url_for("people.show", person_id=person.id))
    return render_template("people/form.html", form=form, person=person), 422 if form.errors else 200


@bp.post("/<int:person_id>/trainings")
@roles_required("officer")
def add_training(person_id):
    person = services.get_person(db.session, person_id)
    form = TrainingForm()
    if form.validate_on_submit():
        services.add_training(db.session, person, form.data, actor=current_user)
        db.session.commit()
        flash(_("Training recorded."), "success")
    else:
        for field, messages in form.errors.items():
            flash(f"{form[field].label.text}: {' '.join(map(str, messages))}", "error")
    return redirect(url_for("people.show", person_id=person.id))


@bp.post("/<int:person_id>/reminders")
@roles_required("officer")
def add_reminder(person_id):
    person = services.get_person(db.session, person_id)
    form = ReminderForm()
    if form.validate_on_submit():
        try:
            services.add_reminder(db.session, person, form.data, actor=current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            flash(" ".join(str(m) for ms in exc.details.values() for m in ms), "error")
        else:
            db.session.commit()
            flash(_("Reminder recorded."), "success")
    else:
        for field, messages in form.errors.items():
            flash(f"{form[field].label.text}: {' '.join(map(str, messages))}", "error")
    return redirect(url_for("people.show", person_id=person.id))
