"""Approval pages: the inbox (approvers decide, requesters follow theirs), detail, request form."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.approvals import rules, services
from registry.approvals.forms import ApprovalForm, DecisionForm
from registry.approvals.models import Approval, ApprovalKind, ApprovalStatus
from registry.core.auth import roles_required
from registry.core.errors import Conflict, Forbidden, NotFound, RuleViolation, ValidationFailed
from registry.core.security_events import record_refusal
from registry.core.pages import apply_form_errors, history, paginate_page, paginate_split, people_picker, refused
from registry.extensions import db

bp = Blueprint("approvals", __name__, url_prefix="/approvals")

READERS = ("officer", "staff", "approver", "inspector")
REQUESTERS = ("officer", "staff", "approver")


@bp.app_template_global("approval_subject_labels")
def approval_subject_labels(approval) -> list[tuple[str, str]]:
    """(caption, text) for subject fields owned by other domains (visitor, provision), named
    through rules.SUBJECT_LABELS when the owning domain registered a function."""
    out = []
    for name, caption in (("visitor_id", _("Visitor")), ("provision_id", _("Provision"))):
        value = getattr(approval, name)
        if value:
            label = rules.SUBJECT_LABELS.get(name)
            out.append((caption, label(db.session, value) if label else f"#{value}"))
    return out


@bp.app_template_global("may_decide_approval")
def may_decide_approval(approval) -> bool:
    return _may_decide(approval)


@bp.get("/")
@roles_required(*READERS)
def inbox():
    a = request.args
    kind = a.get("kind") if a.get("kind") in ApprovalKind.values() else None
    status = a.get("status") if a.get("status") in ApprovalStatus.values() else None
    stmt = services.approvals_query(current_user, kind=kind, status=status, mine=a.get("mine") == "1")
    # pending first, newest first: two index-ordered reads instead of sorting every approval (issue 8)
    page = paginate_split(stmt, Approval.status == ApprovalStatus.PENDING,
                          (Approval.requested_at.desc(), Approval.id.desc()))
    return render_template("approvals/inbox.html", page=page, kinds=ApprovalKind,
                           statuses=ApprovalStatus, pending=services.pending_count(db.session))


@bp.get("/<int:approval_id>")
@roles_required(*READERS)
def show(approval_id):
    approval = _visible(approval_id)
    events = history("approvals", approval.id) if current_user.has_role("officer", "approver", "inspector") else []
    return render_template("approvals/show.html", approval=approval, form=DecisionForm(),
                           may_decide=_may_decide(approval), events=events)


@bp.post("/<int:approval_id>/decide")
@roles_required("approver")
def decide(approval_id):
    approval = services.get_approval(db.session, approval_id)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            services.decide(db.session, approval, decision=form.decision.data, reason=form.reason.data or "",
                            actor=current_user)
        except RuleViolation as exc:
            refused(exc)
        except ValidationFailed as exc:
            db.session.rollback()
            flash(" ".join(str(m) for ms in exc.details.values() for m in ms), "error")
        else:
            db.session.commit()
            flash(_("Approved.") if form.decision.data == "approved" else _("Rejected."), "success")
            return redirect(url_for("approvals.inbox"))
    return redirect(url_for("approvals.show", approval_id=approval_id))


@bp.post("/<int:approval_id>/cancel")
@roles_required(*REQUESTERS)
def cancel(approval_id):
    approval = _visible(approval_id)
    try:
        services.cancel(db.session, approval, actor=current_user)
    except RuleViolation as exc:
        refused(exc)
    else:
        db.session.commit()
        flash(_("Request withdrawn."), "success")
    return redirect(url_for("approvals.show", approval_id=approval_id))


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*REQUESTERS)
def new():
    form = ApprovalForm(data=_prefill())
    form.kind.choices = [(k.value, k.label) for k in (ApprovalKind.CHECKOUT, ApprovalKind.COPY)]
    asset = _asset_for(form.asset_id.data)
    if form.validate_on_submit():
        wanted = services.SUBJECT_FIELDS.get(form.kind.data, ())
        subject = {k: v for k, v in form.subject().items() if k in wanted}  # the page offers every field
        try:
            approval = services.request_approval(db.session, kind=form.kind.data, actor=current_user,
                                                 purpose=form.purpose.data, details=form.details(), **subject)
        except (ValidationFailed, Conflict, Forbidden) as exc:
            db.session.rollback()
            if getattr(exc, "hidden", False):  # named a record the user may not see: shown as unknown, recorded
                record_refusal(db.session, exc, actor=current_user, kind="access_denied",
                               details={"method": request.method, "path": request.path, "endpoint": request.endpoint})
            apply_form_errors(form, exc) if isinstance(exc, ValidationFailed) else flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Approval requested. An approver will decide it."), "success")
            return redirect(url_for("approvals.show", approval_id=approval.id))
    people = None if current_user.role.value == "staff" else people_picker(db.session, "active")
    return render_template("approvals/new.html", form=form, asset=asset, people=people), 422 if form.errors else 200


def _prefill() -> dict:
    """Defaults from the query string (links from an item's page); staff borrow for themselves."""
    data = {}
    for key in ("kind", "asset_id", "borrower_id"):
        if request.args.get(key):
            data[key] = request.args[key]
    if current_user.role.value == "staff":
        data["borrower_id"] = current_user.person_id
    return data


def _asset_for(asset_id):
    from registry.assets.models import Asset
    from registry.assets.rules import can_view_asset

    try:
        asset = db.session.get(Asset, int(asset_id)) if asset_id else None
    except (TypeError, ValueError):
        return None
    return asset if asset is not None and can_view_asset(current_user, asset) else None


def _visible(approval_id):
    return services.visible_approval(db.session, current_user, approval_id)


def _may_decide(approval) -> bool:
    from registry.approvals.rules import is_self_approval

    return (current_user.has_role("approver") and approval.status == ApprovalStatus.PENDING
            and not is_self_approval(db.session, approval, current_user))
