"""Provision pages: the register with supervision checks, a request form, and one page per provision that
walks the officer through the five steps (scope, secrecy review, treatment, approval, agreement)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.cooperation import provision_rules as rules
from registry.cooperation import provision_services as services
from registry.cooperation.provision_forms import (AgreementForm, ApprovalRequestForm, ProvidedForm, RejectForm,
                                                  ReviewForm, ScopeForm, TreatmentForm)
from registry.cooperation.provision_models import ProvisionStatus, ReviewOutcome, Treatment
from registry.core.auth import roles_required
from registry.core.errors import Conflict, DomainError, Forbidden, RuleViolation, ValidationFailed
from registry.core.forms import TextField
from registry.core.models import Level
from registry.core.pages import apply_form_errors, history, paginate_page, people_picker, refused
from registry.extensions import db

bp = Blueprint("provisions", __name__, url_prefix="/provisions")


class ScopePageForm(ScopeForm):
    """The page names the registered item by its registry number instead of its id."""

    asset_no = TextField(None, max_length=40)


@bp.get("/")
@roles_required(*rules.READ_ROLES)
def index():
    """The register of provisions to foreign parties, with the supervision flags of each."""
    a = request.args
    status = a.get("status") if a.get("status") in ProvisionStatus.values() else None
    level = a.get("level") if a.get("level") in Level.values() else None
    try:
        project_id = int(a.get("project_id") or 0) or None
    except ValueError:
        project_id = None
    stmt = services.provisions_query(q=a.get("q"), status=status, project_id=project_id, level=level)
    page = paginate_page(stmt)
    flags = {p.id: rules.supervision_flags(p) for p in page.items}
    return render_template("provisions/index.html", page=page, flags=flags, statuses=ProvisionStatus,
                           projects=services.project_choices(db.session), levels=Level,
                           summary=services.supervision_summary(db.session))


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*rules.MANAGE_ROLES)
def create():
    form = ScopePageForm(data={"project_id": request.args.get("project_id")})
    if form.validate_on_submit():
        try:
            data = _scope_data(form)
            p = services.create_provision(db.session, data, actor=current_user)
        except RuleViolation as exc:
            refused(exc)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Provision registered. Record the secrecy review next."), "success")
            return redirect(url_for("provisions.show", provision_id=p.id))
    return render_template("provisions/form.html", form=form, provision=None,
                           projects=services.project_choices(db.session)), 422 if form.errors else 200


@bp.route("/<int:provision_id>/edit", methods=["GET", "POST"])
@roles_required(*rules.MANAGE_ROLES)
def edit(provision_id):
    p = services.get_provision(db.session, provision_id)
    form = ScopePageForm(obj=p)
    if request.method == "GET":
        form.level.data = p.level.value
        form.asset_no.data = p.asset.registry_no if p.asset is not None else ""
    if form.validate_on_submit():
        try:
            changed = services.update_scope(db.session, p, _scope_data(form), actor=current_user)
        except RuleViolation as exc:
            refused(exc)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
            return redirect(url_for("provisions.show", provision_id=p.id))
    return render_template("provisions/form.html", form=form, provision=p,
                           projects=services.project_choices(db.session)), 422 if form.errors else 200


def _scope_data(form) -> dict:
    """The scope from the page form; the registry number becomes the item id."""
    from registry.assets.models import Asset
    import sqlalchemy as sa

    data = {k: form[k].data for k in services.SCOPE_FIELDS if k != "asset_id"}
    number = (form.asset_no.data or "").strip()
    data["asset_id"] = None
    if number:
        asset = db.session.scalar(sa.select(Asset).where(sa.func.upper(Asset.registry_no) == number.upper()))
        if asset is None:
            raise ValidationFailed(details={"asset_no": [_("No item with this registry number.")]})
        data["asset_id"] = asset.id
    return data


@bp.get("/<int:provision_id>")
@roles_required(*rules.READ_ROLES)
def show(provision_id):
    p = services.get_provision(db.session, provision_id)
    review = ReviewForm(obj=p)
    treatment = TreatmentForm(obj=p)
    agreement = AgreementForm(obj=p)
    if p.review_outcome:
        review.review_outcome.data = p.review_outcome.value
    if p.treatment:
        treatment.treatment.data = p.treatment.value
    return render_template(
        "provisions/show.html", p=p, flags=rules.supervision_flags(p), review_form=review, treatment_form=treatment,
        agreement_form=agreement, approval_form=ApprovalRequestForm(), provided_form=ProvidedForm(),
        reject_form=RejectForm(), people=people_picker(db.session, "active"), outcomes=ReviewOutcome,
        treatments=Treatment, needs_approval=rules.needs_approval(p.level),
        treatment_needed=rules.treatment_needed(p), events=history("provisions", p.id))


def _step(provision_id, form_cls, action, success):
    """Run one step command from a posted form; refusals and field errors are flashed."""
    p = services.get_provision(db.session, provision_id)
    form = form_cls()
    if form.validate_on_submit():
        try:
            action(p, form)
        except RuleViolation as exc:
            refused(exc)
        except Forbidden:
            db.session.rollback()
            raise
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            _flash_domain_error(form, exc)
        else:
            db.session.commit()
            flash(success, "success")
    else:
        _flash_form_errors(form)
    return redirect(url_for("provisions.show", provision_id=provision_id))


def _flash_domain_error(form, exc: DomainError) -> None:
    if exc.details:
        for field, messages in exc.details.items():
            label = form[field].label.text if field in form._fields else field
            flash(f"{label}: {' '.join(str(m) for m in messages)}" if isinstance(messages, list)
                  else str(exc.message), "error")
    else:
        flash(str(exc.message), "error")


def _flash_form_errors(form) -> None:
    for field, messages in form.errors.items():
        label = form[field].label.text if field in form._fields else field
        flash(f"{label}: {' '.join(map(str, messages))}", "error")


@bp.post("/<int:provision_id>/review")
@roles_required(*rules.MANAGE_ROLES)
def review(provision_id):
    return _step(provision_id, ReviewForm, lambda p, f: services.record_review(
        db.session, p, f.data, actor=current_user), _("Secrecy review recorded."))


@bp.post("/<int:provision_id>/treatment")
@roles_required(*rules.MANAGE_ROLES)
def treatment(provision_id):
    return _step(provision_id, TreatmentForm, lambda p, f: services.record_treatment(
        db.session, p, f.data, actor=current_user), _("Treatment recorded."))


@bp.post("/<int:provision_id>/approval")
@roles_required(*rules.MANAGE_ROLES)
def request_approval(provision_id):
    return _step(provision_id, ApprovalRequestForm, lambda p, f: services.request_approval(
        db.session, p, actor=current_user, purpose=f.purpose.data or ""),
        _("Approval requested. Another person with the approver role decides it."))


@bp.post("/<int:provision_id>/agreement")
@roles_required(*rules.MANAGE_ROLES)
def agreement(provision_id):
    return _step(provision_id, AgreementForm, lambda p, f: services.record_agreement(
        db.session, p, f.data, actor=current_user), _("Confidentiality agreement recorded."))


@bp.post("/<int:provision_id>/provided")
@roles_required(*rules.MANAGE_ROLES)
def provided(provision_id):
    return _step(provision_id, ProvidedForm, lambda p, f: services.mark_provided(
        db.session, p, actor=current_user, provided_on=f.provided_on.data), _("Recorded as provided."))


@bp.post("/<int:provision_id>/reject")
@roles_required(*rules.MANAGE_ROLES)
def reject(provision_id):
    return _step(provision_id, RejectForm, lambda p, f: services.reject_provision(
        db.session, p, actor=current_user, reason=f.reason.data), _("Provision rejected."))
