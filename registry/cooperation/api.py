"""Cooperation endpoints of the JSON API (SPEC §6). Projects: /projects and /projects/<id>."""

from __future__ import annotations

from flask import request
from flask_login import current_user

from registry.cooperation import services
from registry.cooperation.forms import ProjectForm
from registry.cooperation.models import ReviewStatus
from registry.core.api import api_blueprint, doc, json_body, paginate, register_schema, validate_with
from registry.core.auth import READ_REGISTERS, roles_required
from registry.core.errors import ValidationFailed
from registry.extensions import db

bp = api_blueprint("cooperation_api", __name__)

_date = {"type": ["string", "null"], "format": "date"}
register_schema("Project", {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "partner": {"type": "string"},
    "partner_country": {"type": "string"}, "department": {"type": "string"}, "description": {"type": "string"},
    "starts_on": _date, "ends_on": _date, "review_status": {"type": "string", "enum": ReviewStatus.values()},
    "reviewed_by": {"type": ["integer", "null"], "description": "person id of the reviewer"},
    "reviewed_on": _date, "conclusion": {"type": "string"}}})


# ---------------------------------------------------------------- projects

@bp.get("/projects")
@roles_required(*READ_REGISTERS)
@doc("List cooperation projects", tags=["projects"], response="Project", list_of=True, errors=(422,), query=[
    ("q", "string", "name, partner, department"), ("review_status", "string", "pending | passed | conditional | rejected"),
    ("partner_country", "string", "ISO 3166 alpha-2"), ("sort", "string", "name, partner, review_status, -reviewed_on …")])
def list_projects():
    status = request.args.get("review_status")
    if status and status not in ReviewStatus.values():
        raise ValidationFailed(details={"review_status": [f"one of: {', '.join(ReviewStatus.values())}"]})
    stmt = services.projects_query(q=request.args.get("q"), review_status=status,
                                   partner_country=request.args.get("partner_country"), sort=request.args.get("sort"))
    return paginate(stmt, services.serialize_project)


@bp.post("/projects")
@roles_required("officer")
@doc("Register a cooperation project (with its secrecy review, default pending)", tags=["projects"],
     body=ProjectForm, response="Project", status=201, errors=(422,))
def create_project():
    form = validate_with(ProjectForm, json_body())
    project = services.create_project(db.session, form.data, actor=current_user)
    db.session.commit()
    return services.serialize_project(project), 201


@bp.get("/projects/<int:project_id>")
@roles_required(*READ_REGISTERS)
@doc("Read a cooperation project", tags=["projects"], response="Project")
def get_project(project_id):
    return services.serialize_project(services.get_project(db.session, project_id))


@bp.patch("/projects/<int:project_id>")
@roles_required("officer")
@doc("Edit a project or record its secrecy review (partial)", tags=["projects"], body=ProjectForm,
     response="Project", errors=(422,))
def update_project(project_id):
    project = services.get_project(db.session, project_id)
    form = validate_with(ProjectForm, json_body(), base=services.project_form_values(project))
    services.update_project(db.session, project, form.data, actor=current_user)
    db.session.commit()
    return services.serialize_project(project)
