"""Cooperation pages. Projects: list, detail (review, linked visitors, history), create, edit, review."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.cooperation import services
from registry.cooperation.forms import ProjectForm, ReviewForm
from registry.cooperation.models import ReviewStatus
from registry.core.auth import READ_REGISTERS, roles_required
from registry.core.errors import ValidationFailed
from registry.core.pages import apply_form_errors, history, paginate_page, people_picker
from registry.extensions import db

bp = Blueprint("cooperation", __name__)


@bp.context_processor
def _helpers():
    from registry.core.countries import name as country_name

    return {"country_name": country_name}


# ---------------------------------------------------------------- projects

@bp.get("/projects")
@roles_required(*READ_REGISTERS)
def projects():
    a = request.args
    status = a.get("review_status") if a.get("review_status") in ReviewStatus.values() else None
    try:
        stmt = services.projects_query(q=a.get("q"), review_status=status, sort=a.get("sort") or None)
    except ValidationFailed:
        flash(_("Some filters were not valid and were ignored."), "warning")
        stmt = services.projects_query()
    return render_template("cooperation/projects.html", page=paginate_page(stmt), statuses=ReviewStatus)


@bp.get("/projects/<int:project_id>")
@roles_required(*READ_REGISTERS)
def project_show(project_id):
    from registry.visits.services import site, visitors_query

    project = services.get_project(db.session, project_id)
    visitors = db.session.scalars(visitors_query(project_id=project.id).limit(200)).all()
    form = ReviewForm(formdata=None, review_status=project.review_status.value)
    return render_template("cooperation/project_show.html", project=project, visitors=visitors, home=site()[0],
                           review_form=form, people=people_picker(db.session, "active"),
                           events=history("cooperation_projects", project.id))


@bp.route("/projects/new", methods=["GET", "POST"])
@roles_required("officer")
def project_new():
    form = ProjectForm()
    if form.validate_on_submit():
        try:
            project = services.create_project(db.session, form.data, actor=current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Project registered."), "success")
            return redirect(url_for("cooperation.project_show", project_id=project.id))
    return render_template("cooperation/project_form.html", form=form, project=None,
                           people=people_picker(db.session, "active")), 422 if form.errors else 200


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
@roles_required("officer")
def project_edit(project_id):
    project = services.get_project(db.session, project_id)
    form = ProjectForm(data=services.project_form_values(project) if request.method == "GET" else None)
    if request.method == "GET":
        form.starts_on.data, form.ends_on.data = project.starts_on, project.ends_on
        form.reviewed_on.data = project.reviewed_on
    if form.validate_on_submit():
        try:
            changed = services.update_project(db.session, project, form.data, actor=current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            apply_form_errors(form, exc)
        else:
            db.session.commit()
            flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
            return redirect(url_for("cooperation.project_show", project_id=project.id))
    return render_template("cooperation/project_form.html", form=form, project=project,
                           people=people_picker(db.session, "active")), 422 if form.errors else 200


@bp.post("/projects/<int:project_id>/review")
@roles_required("officer")
def project_review(project_id):
    project = services.get_project(db.session, project_id)
    form = ReviewForm()
    if not form.validate_on_submit():
        for field, messages in form.errors.items():
            flash(f"{form[field].label.text}: {' '.join(map(str, messages))}", "error")
        return redirect(url_for("cooperation.project_show", project_id=project.id))
    try:
        changed = services.review_project(db.session, project, form.data, actor=current_user)
    except ValidationFailed as exc:
        db.session.rollback()
        flash(" ".join(str(m) for ms in exc.details.values() for m in ms), "error")
    else:
        db.session.commit()
        flash(_("Secrecy review recorded.") if changed else _("Nothing changed."), "success" if changed else "info")
    return redirect(url_for("cooperation.project_show", project_id=project.id))
