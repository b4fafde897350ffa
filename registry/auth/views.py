"""Sign-in, sign-out, first-run setup, account page (password, language, TOTP), re-authentication."""

from __future__ import annotations

import logging

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from registry.auth import services
from registry.auth.forms import LanguageForm, LoginForm, PasswordChangeForm, ReauthForm, SetupForm, TotpConfirmForm
from registry.auth.fresh import mark_fresh
from registry.auth.models import Role
from registry.auth.passwords import check_password
from registry.core.auth import login_required, public
from registry.core.db import begin_write
from registry.core.errors import DomainError, ValidationFailed
from registry.core.i18n import normalise
from registry.core.pages import apply_form_errors
from registry.core.urls import safe_next
from registry.extensions import db, limiter

bp = Blueprint("auth", __name__)
log = logging.getLogger("registry")


def _announce_setup_token() -> None:
    """While no account exists, print a one-time setup token on the server console."""
    if current_app.extensions.get("registry_setup_announced"):
        return
    begin_write(db.session)
    if services.users_exist(db.session):
        db.session.rollback()
        return
    raw = services.new_setup_token(db.session)
    db.session.commit()
    current_app.extensions["registry_setup_announced"] = True
    base = current_app.config.get("BASE_URL") or ""
    log.warning("No administrator exists yet. Create one at %s/setup with the setup token: %s", base, raw)
    print(f"\n  Registry first-run setup: open {base}/setup and enter the token {raw}\n", flush=True)


def _sign_in(user, *, next_url: str | None):
    token = services.start_session(db.session, user, ip=request.remote_addr, user_agent=request.user_agent.string)
    db.session.commit()
    session.clear()  # a fresh session at sign-in (no fixation)
    user._session_token = token
    login_user(user, remember=False)
    import time

    session["seen"] = int(time.time())
    mark_fresh()
    if user.locale:
        session["lang"] = user.locale
    return redirect(safe_next(next_url, url_for("core.dashboard")))


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit("30 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.dashboard"))
    if not services.users_exist(db.session):
        _announce_setup_token()
        return redirect(url_for("auth.setup"))
    form = LoginForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"))
    need_totp = False
    if form.validate_on_submit():
        try:
            user = services.authenticate(db.session, username=form.username.data, password=form.password.data,
                                         ip=request.remote_addr, config=current_app.config,
                                         totp_code=form.totp.data or None)
        except services.TotpRequired:
            db.session.rollback()
            need_totp = True
            flash(_("Enter the code from your authenticator app."), "info")
        except DomainError as exc:
            db.session.commit()  # keep the throttle counters and the login_failed event
            flash(str(exc.message), "error")
            return render_template("auth/login.html", form=form, need_totp=bool(form.totp.data)), exc.status
        else:
            return _sign_in(user, next_url=form.next.data)
    return render_template("auth/login.html", form=form, need_totp=need_totp)


@bp.post("/logout")
@login_required
def logout():
    token = current_user.get_id()
    services.end_session(db.session, token, actor=current_user)
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup():
    """Create the first administrator with the one-time token printed on the console."""
    if services.users_exist(db.session):
        return redirect(url_for("auth.login"))
    _announce_setup_token()
    form = SetupForm()
    if form.validate_on_submit():
        if form.password.data != form.confirm.data:
            form.confirm.errors = [_("The passwords do not match.")]
        elif not services.consume_setup_token(db.session, form.token.data):
            db.session.rollback()
            form.token.errors = [_("This setup token is not valid.")]
        else:
            try:
                user = services.create_user(db.session, username=form.username.data, role=Role.ADMIN.value,
                                            password=form.password.data, actor=None)
            except ValidationFailed as exc:
                db.session.rollback()
                apply_form_errors(form, exc)
            else:
                db.session.commit()
                flash(_("Administrator created. Welcome."), "success")
                return _sign_in(user, next_url=url_for("core.dashboard"))
    return render_template("auth/setup.html", form=form)


@bp.route("/reauth", methods=["GET", "POST"])
@login_required
def reauth():
    form = ReauthForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next"), url_for("core.dashboard"))
    if form.validate_on_submit():
        if check_password(current_user.password_hash, form.password.data):
            mark_fresh()
            return redirect(safe_next(form.next.data, url_for("core.dashboard")))
        form.password.errors = [_("The password is wrong.")]
    return render_template("auth/reauth.html", form=form)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        if form.new_password.data != form.confirm.data:
            form.confirm.errors = [_("The passwords do not match.")]
        else:
            try:
                services.change_password(db.session, current_user, current=form.current_password.data,
                                         new=form.new_password.data, actor=current_user)
            except ValidationFailed as exc:
                db.session.rollback()
                apply_form_errors(form, exc)
            else:
                db.session.commit()
                logout_user()
                session.clear()
                flash(_("Password changed. Every session of yours has been ended; please sign in again."), "success")
                return redirect(url_for("auth.login"))
    return render_template("auth/account.html", form=form, lang_form=LanguageForm(lang=str(current_user.locale or "")))


@bp.post("/language")
@public
def language():
    """Switch the language: saved on the account when signed in, else in the session."""
    form = LanguageForm()
    lang = normalise(form.lang.data) if form.validate_on_submit() else None
    if lang:
        session["lang"] = lang
        if current_user.is_authenticated:
            services.update_user(db.session, current_user, actor=current_user, locale=lang)
            db.session.commit()
    return redirect(safe_next(form.next.data, url_for("core.dashboard")))


@bp.route("/account/totp", methods=["GET", "POST"])
@login_required
def totp():
    """Enrol an authenticator app (TOTP, works offline)."""
    form = TotpConfirmForm()
    secret = session.get("totp_pending") or services.begin_totp(current_user)
    session["totp_pending"] = secret
    codes = None
    if form.validate_on_submit():
        try:
            codes = services.confirm_totp(db.session, current_user, secret=secret, code=form.code.data,
                                          actor=current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            session.pop("totp_pending", None)
            flash(_("Two-factor sign-in is on. Keep the recovery codes in a safe place."), "success")
    import pyotp

    unit = "Registry"
    uri = pyotp.TOTP(secret).provisioning_uri(name=current_user.username, issuer_name=unit)
    qr_svg = segno.make_qr(uri).svg_data_uri(scale=4)
    return render_template("auth/totp.html", form=form, secret=secret, qr=qr_svg, codes=codes)
