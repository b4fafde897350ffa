"""Cooperation projects and their secrecy review: services, API (SPEC §6 fields), pages, and the
effect of the review on visitors' area permissions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry.cooperation import services
from registry.cooperation.models import CooperationProject, ReviewStatus
from registry.core.audit import AuditEvent
from registry.extensions import db
from tests.visits.conftest import world  # noqa: F401  (fixture)

PROJECT = {"name": "联合传感器研究", "partner": "Fraunhofer IOSB", "partner_country": "DE", "department": "第一研究室",
           "starts_on": "2026-03-01", "ends_on": "2027-02-28"}
SPEC_FIELDS = {"id", "name", "partner", "partner_country", "review_status", "reviewed_by", "reviewed_on", "conclusion"}


def test_api_project_lifecycle(app, make, api):
    reviewer = make.person(name="王建国")
    officer = api("officer")
    resp = officer.post("/api/v1/projects", json=PROJECT)
    assert resp.status_code == 201, resp.get_json()
    p = resp.get_json()
    assert SPEC_FIELDS <= set(p) and p["review_status"] == "pending" and p["reviewed_by"] is None
    resp = officer.patch(f"/api/v1/projects/{p['id']}", json={"review_status": "conditional"})
    assert resp.status_code == 422
    assert {"reviewed_by", "reviewed_on", "conclusion"} <= set(resp.get_json()["error"]["details"])
    review = {"review_status": "conditional", "reviewed_by": reviewer, "reviewed_on": date.today().isoformat(),
              "conclusion": "No access to JF-201; technical data only after 技术处理."}
    resp = officer.patch(f"/api/v1/projects/{p['id']}", json=review)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["review_status"] == "conditional" and body["reviewed_by"] == reviewer
    assert body["name"] == PROJECT["name"] and body["starts_on"] == "2026-03-01"
    listed = api("inspector").get("/api/v1/projects?review_status=conditional").get_json()
    assert [x["id"] for x in listed["items"]] == [p["id"]] and listed["total"] == 1
    assert api("approver").get(f"/api/v1/projects/{p['id']}").get_json()["conclusion"].startswith("No access")
    assert api("inspector").patch(f"/api/v1/projects/{p['id']}", json={"name": "x"}).status_code == 403
    assert api("guard").get("/api/v1/projects").status_code == 403
    assert api("officer").get("/api/v1/projects?review_status=maybe").status_code == 422
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action).where(
            AuditEvent.entity_type == "cooperation_projects").order_by(AuditEvent.seq)).all()
    assert actions == ["project.create", "project.review"]


@pytest.mark.parametrize("body,field", [
    ({**PROJECT, "partner_country": "Germany"}, "partner_country"),
    ({**PROJECT, "ends_on": "2020-01-01"}, "ends_on"),
    ({**PROJECT, "review_status": "approved"}, "review_status"),
    ({**PROJECT, "review_status": "rejected", "reviewed_by": 1, "reviewed_on": "2026-01-01"}, "conclusion"),
    ({**PROJECT, "review_status": "passed", "reviewed_by": 1,
      "reviewed_on": (date.today() + timedelta(days=3)).isoformat()}, "reviewed_on"),
    ({k: v for k, v in PROJECT.items() if k != "partner"}, "partner"),
    ({**PROJECT, "secret": True}, "secret"),
])
def test_api_project_validation(api, make, body, field):
    make.person()
    resp = api("officer").post("/api/v1/projects", json=body)
    assert resp.status_code == 422 and field in resp.get_json()["error"]["details"]


def test_unknown_reviewer_is_refused(ctx):
    from registry.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as info:
        services.create_project(db.session, {"name": "x", "partner": "y", "partner_country": "JP",
                                             "review_status": "passed", "reviewed_by": 424242,
                                             "reviewed_on": date.today(), "conclusion": ""}, actor=None)
    assert "reviewed_by" in info.value.details


@pytest.mark.parametrize("status,passed", [("pending", False), ("passed", True), ("conditional", True),
                                           ("rejected", False)])
def test_review_status_decides_visitor_permissions(world, status, passed):
    """SPEC §4: a visitor's project must have passed (or passed with conditions) its secrecy review."""
    from registry.core.errors import RuleViolation
    from registry.core.models import utcnow
    from registry.visits import services as visits

    project = world.project(review_status=status, reviewed_on=None if status == "pending" else date.today(),
                            conclusion="c")
    visitor = world.visitor(nationality="CN", project_id=project.id)
    room = world.room(level="internal")
    window = {"valid_from": utcnow(), "valid_until": utcnow() + timedelta(hours=2), "escort_required": True}
    if passed:
        assert visits.grant_permission(db.session, visitor, room, window, actor=world.officer).id
    else:
        with pytest.raises(RuleViolation) as info:
            visits.grant_permission(db.session, visitor, room, window, actor=world.officer)
        assert info.value.code == "project_review_pending"
    assert project.review_passed is passed


def test_project_pages(app, make, as_role):
    reviewer = make.person(name="王建国")
    officer = as_role("officer")
    en = {"Accept-Language": "en"}
    resp = officer.post("/projects/new", data={**PROJECT, "review_status": "pending"}, headers=en,
                        follow_redirects=True)
    assert resp.status_code == 200 and "Project registered." in resp.get_data(as_text=True)
    with app.app_context():
        pid = db.session.scalar(sa.select(CooperationProject.id))
    vid = make.visitor(project_id=pid, name="Anna Schmidt")
    html = officer.get(f"/projects/{pid}", headers=en).get_data(as_text=True)
    assert "Anna Schmidt" in html and "Review pending" in html and "cannot be given area permissions" in html
    resp = officer.post(f"/projects/{pid}/review", data={"review_status": "rejected", "reviewed_by": reviewer,
                                                         "reviewed_on": date.today().isoformat()},
                        headers=en, follow_redirects=True)
    assert "Review conclusion" in resp.get_data(as_text=True)  # the missing conclusion is named
    resp = officer.post(f"/projects/{pid}/review", data={"review_status": "passed", "reviewed_by": reviewer,
                                                         "reviewed_on": date.today().isoformat(),
                                                         "conclusion": "ok"}, headers=en, follow_redirects=True)
    assert "Secrecy review recorded." in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(CooperationProject, pid).review_status == ReviewStatus.PASSED
    resp = officer.post(f"/projects/{pid}/edit", data={**PROJECT, "ends_on": "2000-01-01", "review_status": "passed",
                                                       "reviewed_by": reviewer, "reviewed_on": date.today().isoformat(),
                                                       "conclusion": "ok"}, headers=en)
    assert resp.status_code == 422
    assert officer.get(f"/projects/{pid}/edit").status_code == 200
    listing = as_role("inspector").get("/projects?review_status=passed", headers=en).get_data(as_text=True)
    assert PROJECT["name"] in listing
    assert as_role("inspector").get("/projects/new").status_code == 403
    assert as_role("guard").get("/projects").status_code == 403
    assert vid
