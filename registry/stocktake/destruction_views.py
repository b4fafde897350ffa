"""Destruction pages (销毁): the register, one record, the form that records a destruction with its
approval, performer and witnesses, and the request for the destruction approval."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.core.auth import roles_required
from registry.core.errors import Conflict, DomainError, Forbidden, RuleViolation, ValidationFailed
from registry.core.pages import history, paginate_page, people_picker, refused
from registry.extensions import db
from registry.stocktake import rules, services
from registry.stocktake.forms import DestructionApprovalForm, DestructionPageForm
from registry.stocktake.models import DestructionMethod

bp = Blueprint("destructions", __name__, url_prefix="/destructions")


def _messages(exc: DomainError) -> str:
    parts = [str(m) for ms in (exc.details or {}).values() if isinstance(ms, list) for m in ms]
    return " ".join(parts) or str(exc.message)


@bp.get("/")
@roles_required(*rules.READ_ROLES)
def index():
    """The destruction register (销毁登记), newest first."""
    method = request.args.get("method") if request.args.get("method") in DestructionMethod.values() else None
    stmt = services.destructions_query(method=method, q=request.args.get("q"))
    return render_template("stocktake/destructions.html", page=paginate_page(stmt), methods=DestructionMethod,
                           destroyed=services.destroyed_count(db.session))


@bp.get("/<int:destruction_id>")
@roles_required(*rules.READ_ROLES)
def show(destruction_id):
    record = services.get_destruction(db.session, destruction_id)
    return render_template("stocktake/destruction.html", d=record, events=history("destructions", record.id))


def _usable_approvals():
    from registry.approvals.models import Approval, ApprovalKind, ApprovalStatus

    return db.session.scalars(sa.select(Approval).where(Approval.kind == ApprovalKind.DESTRUCTION,
                                                        Approval.status == ApprovalStatus.APPROVED)
                              .order_by(Approval.id.desc())).all()


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*rules.RUN_ROLES)
def new():
    """Record a destruction: items, method, date, place, the approval, the performer and two witnesses."""
    form = DestructionPageForm(data={"asset_nos": request.args.get("items", "")})
    approval_form = DestructionApprovalForm(data={"asset_nos": request.args.get("items", "")}, prefix="req")
    if form.validate_on_submit():
        try:
            assets = services.assets_by_registry_no(db.session, form.numbers())
            witnesses = [w for w in (form.witness_1.data, form.witness_2.data, form.witness_3.data) if w]
            record = services.record_destruction(db.session, {
                "asset_ids": [a.id for a in assets], "method": form.method.data,
                "destroyed_on": form.destroyed_on.data, "approval_id": form.approval_id.data,
                "performed_by": form.performed_by.data, "witness_ids": witnesses, "place": form.place.data,
                "note": form.note.data}, actor=current_user)
        except RuleViolation as exc:
            refused(exc)
        except Forbidden:
            raise
        except ValidationFailed as exc:
            db.session.rollback()
            flash(_messages(exc), "error")
        else:
            db.session.commit()
            flash(_("Destruction recorded; the items are now destroyed."), "success")
            return redirect(url_for("destructions.show", destruction_id=record.id))
    return render_template("stocktake/destruction_form.html", form=form, approval_form=approval_form,
                           people=people_picker(db.session, "active"), approvals=_usable_approvals(),
                           methods=DestructionMethod), 422 if form.errors else 200


@bp.post("/approval")
@roles_required(*rules.RUN_ROLES)
def request_approval():
    """Ask for the destruction approval of the items typed or scanned on the form."""
    form = DestructionApprovalForm(prefix="req")
    numbers = "\n".join(form.numbers())
    if form.validate_on_submit():
        try:
            assets = services.assets_by_registry_no(db.session, form.numbers())
            approval = services.request_destruction_approval(db.session, assets, actor=current_user,
                                                             purpose=form.purpose.data)
        except RuleViolation as exc:
            refused(exc)
        except (ValidationFailed, Conflict) as exc:
            db.session.rollback()
            flash(_messages(exc), "error")
        else:
            db.session.commit()
            flash(_("Destruction approval #%(id)d requested. An approver decides it.", id=approval.id), "success")
    else:
        flash(_messages(ValidationFailed(details=form.errors)), "error")
    return redirect(url_for("destructions.new", items=numbers))
