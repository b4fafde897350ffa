"""Personnel pages: list with search and filters, detail with history, create and edit; commitment
letters about to expire, secrecy reminders and their acknowledgement, training records, and the
清退 page (what a person still holds) with the leave / decommissioning action."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.core.auth import READ_REGISTERS, roles_required
from registry.core.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from registry.core.pages import apply_form_errors, history, paginate_page, refused
from registry.core.settings import get_settings
from registry.core.urls import safe_next
from registry.extensions import db
from registry.people import services
from registry.people.forms import AcknowledgeForm, LeaveForm, PersonForm, ReminderForm, TrainingForm
from registry.people.models import Occasion, PersonStatus

WITHIN_CHOICES = (30, 60, 90, 180)

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
                           reminder_form=ReminderForm(), ack_form=AcknowledgeForm(),
                           today=services.unit_today())


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
        form.nationality.data = person.nationality
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


# ------------------------------------------------------------------ 清退 and leaving

@bp.get("/<int:person_id>/holdings")
@roles_required(*READ_REGISTERS)
def holdings(person_id):
    """What a person still holds (清退): checked-out items, and items in their custody to hand over."""
    person = services.get_person(db.session, person_id)
    return render_template("people/holdings.html", person=person, held=services.held_items(db.session, person),
                           custody=services.custodian_items(db.session, person), form=LeaveForm(),
                           today=services.unit_today())


@bp.post("/<int:person_id>/leave")
@roles_required("officer")
def leave(person_id):
    person = services.get_person(db.session, person_id)
    form = LeaveForm()
    if form.validate_on_submit():
        try:
            services.leave(db.session, person, actor=current_user, home_country=get_settings()["home_country"],
                           today=services.unit_today(), left_on=form.left_on.data,
                           decommission_until=form.decommission_until.data)
        except RuleViolation as exc:
            refused(exc)
        except ValidationFailed as exc:
            db.session.rollback()
            flash(" ".join(str(m) for ms in exc.details.values() for m in ms), "error")
        else:
            db.session.commit()
            flash(_("Decommissioning period recorded.") if form.decommission_until.data
                  else _("The person is recorded as having left."), "success")
            return redirect(url_for("people.show", person_id=person.id))
    else:
        _flash_form_errors(form)
    return redirect(url_for("people.holdings", person_id=person.id))


# ------------------------------------------------------------------ commitment letters

@bp.get("/commitments")
@roles_required(*READ_REGISTERS)
def commitments():
    """Commitment letters (保密承诺书) missing, expired or expiring within N days."""
    within = _int_arg("within", 30, WITHIN_CHOICES)
    department = request.args.get("department") or None
    today = services.unit_today()
    stmt = services.commitments_query(today=today, within_days=within, department=department)
    return render_template("people/commitments.html", page=paginate_page(stmt, per_page=100), within=within,
                           choices=WITHIN_CHOICES, today=today, departments=services.departments(db.session),
                           counts=services.commitment_counts(db.session, today=today, within_days=within))


# ------------------------------------------------------------------ reminders

@bp.get("/reminders")
@roles_required(*READ_REGISTERS)
def reminders():
    """Foreign-exchange secrecy reminders (对外科技交流保密提醒) of everyone, unacknowledged first."""
    state = request.args.get("acknowledged")
    acknowledged = {"1": True, "0": False}.get(state or "")
    occasion = request.args.get("occasion") if request.args.get("occasion") in Occasion.values() else None
    stmt = services.reminders_query(acknowledged=acknowledged, occasion=occasion, q=request.args.get("q"))
    return render_template("people/reminders.html", page=paginate_page(stmt), occasions=Occasion,
                           ack_form=AcknowledgeForm(), mine=False)


@bp.get("/my-reminders")
@roles_required("staff", "officer", "approver")
def my_reminders():
    """The signed-in user's own reminders, to read and acknowledge."""
    person_id = current_user.person_id or -1
    stmt = services.reminders_query(person_id=person_id)
    return render_template("people/reminders.html", page=paginate_page(stmt), occasions=Occasion,
                           ack_form=AcknowledgeForm(), mine=True)


@bp.post("/reminders/<int:reminder_id>/acknowledge")
@roles_required("staff", "officer", "approver")
def acknowledge(reminder_id):
    reminder = services.visible_reminder(db.session, current_user, reminder_id)
    form = AcknowledgeForm()
    if form.validate_on_submit():
        try:
            services.acknowledge_reminder(db.session, reminder, actor=current_user)
        except (Forbidden, Conflict) as exc:
            db.session.rollback()
            if isinstance(exc, Forbidden):
                raise
            flash(str(exc.message), "warning")
        else:
            db.session.commit()
            flash(_("Reminder acknowledged."), "success")
    back = safe_next(request.form.get("next")) or url_for("people.my_reminders")
    return redirect(back)


# ------------------------------------------------------------------ training records

@bp.get("/trainings")
@roles_required(*READ_REGISTERS)
def trainings():
    """Training records, and cleared staff whose last training is more than 12 months old."""
    year = _int_arg("year", None, None)
    department = request.args.get("department") or None
    stmt = services.trainings_query(q=request.args.get("q"), year=year, department=department)
    untrained = db.session.scalars(services.untrained_query(today=services.unit_today()).limit(200)).all()
    return render_template("people/trainings.html", page=paginate_page(stmt), untrained=untrained,
                           departments=services.departments(db.session))


@bp.route("/trainings/<int:training_id>/edit", methods=["GET", "POST"])
@roles_required("officer")
def edit_training(training_id):
    training = services.get_training(db.session, training_id)
    form = TrainingForm(obj=training)
    if form.validate_on_submit():
        changed = services.update_training(db.session, training, form.data, actor=current_user)
        db.session.commit()
        flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
        return redirect(url_for("people.show", person_id=training.person_id))
    return render_template("people/training_form.html", form=form, training=training), 422 if form.errors else 200


def _int_arg(name, default, allowed):
    try:
        value = int(request.args.get(name, ""))
    except ValueError:
        return default
    if allowed is not None and value not in allowed:
        return default
    return value if 1900 <= value <= 2200 or allowed is not None else default


def _flash_form_errors(form):
    for field, messages in form.errors.items():
        label = form[field].label.text if field in form._fields else field
        flash(f"{label}: {' '.join(map(str, messages))}", "error")


@bp.get("/lookup")
@roles_required(*READ_REGISTERS, "guard")
def lookup():
    """The person picker's suggestions (static/js/picker.js): ?q=&scope=active|all|escort (+ the scope's
    params, e.g. room_id): at most 20 candidates of the scope (the same people its select would list)
    whose name or employee number contains q, as {"items": [{"id", "label"}]}. A scope is only for
    the roles whose forms use it (guards: escorts)."""
    from flask import jsonify

    from registry.core.pages import PERSON_SCOPES, lookup_people

    scope = PERSON_SCOPES.get(request.args.get("scope") or "active")
    if scope is None:
        raise NotFound()
    if not current_user.has_role(*scope.roles):
        raise Forbidden()
    items = lookup_people(db.session, request.args.get("q", ""), request.args.get("scope") or "active", request.args)
    resp = jsonify({"items": items})
    resp.headers["Cache-Control"] = "no-store"
    return resp
