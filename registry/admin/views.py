"""Administration pages (admin role): users, roles, sign-in locks, TOTP reset, unit settings."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.admin.forms import SETTING_KEYS, SettingsForm
from registry.auth import services
from registry.auth.forms import PasswordResetForm, UserCreateForm, UserEditForm
from registry.auth.fresh import fresh_required
from registry.auth.models import ApiToken, LoginThrottle, User
from registry.core import settings as unit_settings
from registry.core.auth import roles_required
from registry.core.errors import NotFound, ValidationFailed
from registry.core.models import utcnow
from registry.core.pages import apply_form_errors, form_choices_people, history, people_picker, picked_person_id
from registry.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _people_choices(field):
    field.choices = [("", "—")] + [(str(i), n) for i, n in form_choices_people(db.session, active_only=False)]


def _typed_person(form) -> str | None:
    """The linked person may also be given as an employee number typed in the person picker's box
    (`person_id_q`, without JavaScript): resolve it into form.person_id; the error message if unknown."""
    if request.method != "POST" or form.person_id.data is not None:
        return None
    person_id, error = picked_person_id(request.form, "person_id", "all")
    form.person_id.data = person_id
    return error


def _with_typed_error(form, error) -> None:
    if error:
        form.person_id.errors = list(form.person_id.errors) + [error]


@bp.get("/users")
@roles_required("admin")
def users():
    rows = db.session.scalars(sa.select(User).order_by(User.username)).all()
    locks = {t.key: t for t in db.session.scalars(sa.select(LoginThrottle).where(
        LoginThrottle.scope == "account", LoginThrottle.failures > 0))}
    return render_template("admin/users.html", users=rows, locks=locks, now=utcnow())


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required("admin")
@fresh_required
def create_user():
    form = UserCreateForm()
    typed_error = _typed_person(form)
    if form.validate_on_submit() and not typed_error:
        try:
            user = services.create_user(db.session, username=form.username.data, role=form.role.data,
                                        password=form.password.data, actor=current_user,
                                        person_id=form.person_id.data)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("User created."), "success")
            return redirect(url_for("admin.user", user_id=user.id))
    _with_typed_error(form, typed_error)
    return render_template("admin/user_new.html", form=form, people=people_picker(db.session, "all"))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
@fresh_required
def user(user_id):
    target = db.session.get(User, user_id) or _404()
    form = UserEditForm(obj=target) if request.method == "POST" else UserEditForm(
        role=target.role.value, active=target.active, person_id=target.person_id)
    typed_error = _typed_person(form)
    if form.validate_on_submit() and not typed_error:
        try:
            changed = services.update_user(db.session, target, actor=current_user, role=form.role.data,
                                           active=form.active.data, person_id=form.person_id.data)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
            return redirect(url_for("admin.user", user_id=target.id))
    _with_typed_error(form, typed_error)
    tokens = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == target.id)
                                .order_by(ApiToken.created_at.desc())).all()
    return render_template("admin/user.html", target=target, form=form, reset_form=PasswordResetForm(),
                           tokens=tokens, events=history("users", target.id), people=people_picker(db.session, "all"))


def _404():
    raise NotFound()


@bp.post("/users/<int:user_id>/password")
@roles_required("admin")
@fresh_required
def reset_password(user_id):
    target = db.session.get(User, user_id) or _404()
    form = PasswordResetForm()
    if form.validate_on_submit():
        try:
            services.reset_password(db.session, target, new=form.password.data, actor=current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            for messages in exc.details.values():
                for m in messages:
                    flash(str(m), "error")
        else:
            db.session.commit()
            flash(_("Password reset. The user's sessions have been ended."), "success")
    return redirect(url_for("admin.user", user_id=target.id))


@bp.post("/users/<int:user_id>/totp-reset")
@roles_required("admin")
@fresh_required
def reset_totp(user_id):
    target = db.session.get(User, user_id) or _404()
    services.reset_totp(db.session, target, actor=current_user)
    db.session.commit()
    flash(_("Two-factor sign-in reset; the user must enrol again."), "success")
    return redirect(url_for("admin.user", user_id=target.id))


@bp.post("/users/<int:user_id>/unlock")
@roles_required("officer")
def unlock(user_id):
    target = db.session.get(User, user_id) or _404()
    if services.clear_account_throttle(db.session, target.username, actor=current_user):
        db.session.commit()
        flash(_("Sign-in lock cleared."), "success")
    if current_user.has_role("admin"):
        return redirect(url_for("admin.user", user_id=target.id))
    return redirect(url_for("core.security_events"))


@bp.post("/tokens/<int:token_id>/revoke")
@roles_required("admin")
@fresh_required
def revoke_token(token_id):
    tok = db.session.get(ApiToken, token_id) or _404()
    services.revoke_token(db.session, tok, actor=current_user)
    db.session.commit()
    flash(_("Token revoked."), "success")
    return redirect(url_for("admin.user", user_id=tok.user_id))


@bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
@fresh_required
def settings():
    current = unit_settings.load(db.session)
    form = SettingsForm() if request.method == "POST" else SettingsForm(data={k: current.get(k) for k in SETTING_KEYS})
    if form.validate_on_submit():
        changes = {k: form[k].data for k in SETTING_KEYS}
        for k, v in list(changes.items()):
            if k.startswith(("due_days_", "max_days_")) and v is None:
                changes[k] = unit_settings.DEFAULTS[k]
        errors = {}
        from registry.core.models import Level

        for lvl in Level:
            if changes[f"due_days_{lvl.value}"] > changes[f"max_days_{lvl.value}"]:
                errors.setdefault(f"due_days_{lvl.value}", []).append(_("The default may not exceed the maximum."))
        if errors:
            apply_form_errors(form, ValidationFailed(details=errors))
        else:
            changed = unit_settings.update(db.session, changes, actor=current_user)
            db.session.commit()
            flash(_("Settings saved.") if changed else _("Nothing changed."), "success" if changed else "info")
            return redirect(url_for("admin.settings"))
    return render_template("admin/settings.html", form=form)
