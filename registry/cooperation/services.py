"""Cooperation commands and queries. Projects and their secrecy review (functions named *project*)."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from registry.cooperation.models import CooperationProject, ReviewStatus
from registry.core import audit
from registry.core.errors import NotFound, ValidationFailed
from registry.core.query import order_by, search
from registry.people.models import Person

# ---------------------------------------------------------------- projects

PROJECT_FIELDS = ("name", "partner", "partner_country", "department", "description", "starts_on", "ends_on",
                  "review_status", "reviewed_by", "reviewed_on", "conclusion")
REVIEW_FIELDS = ("review_status", "reviewed_by", "reviewed_on", "conclusion")
_TEXT = ("partner", "partner_country", "department", "description", "conclusion")


def project_snapshot(p: CooperationProject) -> dict:
    return {f: project_value(p, f) for f in PROJECT_FIELDS}


def project_value(p: CooperationProject, field: str):
    if field == "reviewed_by":
        return p.reviewed_by_id
    return getattr(p, field)


def _set_project(p: CooperationProject, field: str, value) -> None:
    if field == "reviewed_by":
        p.reviewed_by_id = value
    elif field == "review_status":
        p.review_status = ReviewStatus(value or "pending")
    else:
        setattr(p, field, "" if value is None and field in _TEXT else value)


def _check_project(session, data: dict) -> None:
    rid = data.get("reviewed_by")
    if rid is not None and session.get(Person, rid) is None:
        raise ValidationFailed(details={"reviewed_by": [_l("Unknown person.")]})


def create_project(session, data: dict, *, actor) -> CooperationProject:
    """Register a cooperation project (data from a validated ProjectForm); audited."""
    _check_project(session, data)
    project = CooperationProject(review_status=ReviewStatus.PENDING)
    for f in PROJECT_FIELDS:
        if f in data:
            _set_project(project, f, data[f])
    session.add(project)
    session.flush()
    audit.record(session, actor=actor, action="project.create", entity=project,
                 data={"after": project_snapshot(project)})
    return project


def update_project(session, project: CooperationProject, data: dict, *, actor) -> dict:
    """Edit a project; a change of its secrecy review is recorded as its own audit action
    (project.review) so that the review history can be read from the trail."""
    _check_project(session, data)
    before = project_snapshot(project)
    for f in PROJECT_FIELDS:
        if f in data:
            _set_project(project, f, data[f])
    after = project_snapshot(project)
    changed = {k: v for k, v in after.items() if before[k] != v}
    if changed:
        session.flush()
        review_changed = any(k in REVIEW_FIELDS for k in changed)
        audit.record(session, actor=actor, action="project.review" if review_changed else "project.update",
                     entity=project, data={"before": {k: before[k] for k in changed}, "after": changed})
    return changed


def review_project(session, project: CooperationProject, data: dict, *, actor) -> dict:
    """Record the secrecy review (status, reviewer, date, conclusion) of a project."""
    return update_project(session, project, {k: data.get(k) for k in REVIEW_FIELDS}, actor=actor)


def get_project(session, project_id: int) -> CooperationProject:
    project = session.get(CooperationProject, project_id)
    if project is None:
        raise NotFound()
    return project


PROJECT_SORTS = {"name": CooperationProject.name, "partner": CooperationProject.partner,
                 "review_status": CooperationProject.review_status, "reviewed_on": CooperationProject.reviewed_on,
                 "starts_on": CooperationProject.starts_on, "id": CooperationProject.id}


def projects_query(*, q: str | None = None, review_status: str | None = None, partner_country: str | None = None,
                   sort: str | None = None):
    """SELECT of projects for lists and exports (search over name, partner, department)."""
    stmt = sa.select(CooperationProject)
    cond = search([CooperationProject.name, CooperationProject.partner, CooperationProject.department], q)
    if cond is not None:
        stmt = stmt.where(cond)
    if review_status:
        stmt = stmt.where(CooperationProject.review_status == ReviewStatus(review_status))
    if partner_country:
        stmt = stmt.where(CooperationProject.partner_country == partner_country.upper()[:2])
    return order_by(stmt, sort, PROJECT_SORTS, "name")


def project_choices(session) -> list[tuple[int, str]]:
    return [(p.id, p.name) for p in session.scalars(sa.select(CooperationProject).order_by(CooperationProject.name))]


def serialize_project(p: CooperationProject) -> dict:
    def iso(v):
        return v.isoformat() if v else None

    return {"id": p.id, "name": p.name, "partner": p.partner, "partner_country": p.partner_country,
            "department": p.department, "description": p.description, "starts_on": iso(p.starts_on),
            "ends_on": iso(p.ends_on), "review_status": p.review_status.value, "reviewed_by": p.reviewed_by_id,
            "reviewed_on": iso(p.reviewed_on), "conclusion": p.conclusion}


def project_form_values(p: CooperationProject) -> dict:
    """Current values in the form's shape (the base of a PATCH)."""
    data = serialize_project(p)
    return {k: data[k] for k in PROJECT_FIELDS}
