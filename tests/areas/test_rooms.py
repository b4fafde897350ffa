"""Rooms: register, edit, validate, search, staff access list — through pages and the API."""

import pytest
import sqlalchemy as sa

from registry.areas.models import Room, RoomAccess
from registry.core.audit import AuditEvent
from registry.core.labels import Label
from registry.extensions import db


def test_create_room_via_api_issues_a_label_and_audits(api, app):
    officer = api("officer")
    resp = officer.post("/api/v1/rooms", json={"code": "JF-9", "name": "机房", "level": "secret",
                                               "foreign_policy": "forbidden", "max_visitors_per_escort": 2})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["level"] == "secret" and body["foreign_policy"] == "forbidden"
    assert len(body["label_code"]) >= 20
    with app.app_context():
        label = db.session.scalar(sa.select(Label).where(Label.code == body["label_code"]))
        assert label.target_type == "room" and label.target_id == body["id"]
        actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.entity_id == body["id"],
                                                                        AuditEvent.entity_type == "rooms")).all()
        assert "room.create" in actions


@pytest.mark.parametrize("payload, field", [
    ({"code": "", "name": "x"}, "code"),
    ({"code": "A1", "name": ""}, "name"),
    ({"code": "A1", "name": "x", "level": "cosmic"}, "level"),
    ({"code": "A1", "name": "x", "foreign_policy": "maybe"}, "foreign_policy"),
    ({"code": "A1", "name": "x", "max_visitors_per_escort": 0}, "max_visitors_per_escort"),
    ({"code": "A1", "name": "x", "max_visitors_per_escort": 51}, "max_visitors_per_escort"),
    ({"code": "A1", "name": "x", "label_code": "mine"}, "label_code"),
])
def test_room_validation(api, payload, field):
    resp = api("officer").post("/api/v1/rooms", json={"level": "internal", "foreign_policy": "open", **payload})
    assert resp.status_code == 422
    assert field in resp.get_json()["error"]["details"]


def test_room_code_unique_case_insensitive(api, make):
    make.room(code="LAB-1")
    resp = api("officer").post("/api/v1/rooms", json={"code": "lab-1", "name": "dup", "level": "internal",
                                                      "foreign_policy": "open"})
    assert resp.status_code == 422 and "code" in resp.get_json()["error"]["details"]


def test_patch_changes_only_given_fields(api, make):
    rid = make.room(code="P-1", name="Before", level="confidential")
    officer = api("officer")
    resp = officer.patch(f"/api/v1/rooms/{rid}", json={"name": "After"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["name"] == "After" and body["code"] == "P-1" and body["level"] == "confidential"
    assert officer.patch(f"/api/v1/rooms/{rid}", json={"id": 5}).status_code == 422


def test_list_filters_and_search(api, make):
    make.room(code="F-1", name="Alpha", level="secret", foreign_policy="forbidden")
    make.room(code="F-2", name="Beta", level="internal", foreign_policy="open")
    officer = api("officer")
    assert [r["code"] for r in officer.get("/api/v1/rooms?level=secret").get_json()["items"]] == ["F-1"]
    assert [r["code"] for r in officer.get("/api/v1/rooms?foreign_policy=open").get_json()["items"]] == ["F-2"]
    assert [r["code"] for r in officer.get("/api/v1/rooms?q=beta").get_json()["items"]] == ["F-2"]
    assert officer.get("/api/v1/rooms?level=nope").status_code == 422
    guard = api("guard")
    assert guard.get("/api/v1/rooms").status_code == 200  # guards pick rooms at the station
    assert guard.post("/api/v1/rooms", json={"code": "G", "name": "G"}).status_code == 403


def test_pages_create_edit_and_form_errors(as_role, app):
    officer = as_role("officer")
    bad = officer.post("/rooms/new", data={"code": "", "name": "X", "level": "internal", "foreign_policy": "open",
                                           "max_visitors_per_escort": "5"})
    assert bad.status_code == 422
    ok = officer.post("/rooms/new", data={"code": "PG-1", "name": "Page room", "level": "secret",
                                          "foreign_policy": "escorted", "max_visitors_per_escort": "3"})
    assert ok.status_code == 302
    rid = int(ok.headers["Location"].rstrip("/").split("/")[-1])
    page = officer.get(f"/rooms/{rid}").get_data(as_text=True)
    assert "Page room" in page and "PG-1" in page
    edit = officer.post(f"/rooms/{rid}/edit", data={"code": "PG-1", "name": "Renamed", "level": "secret",
                                                    "foreign_policy": "escorted", "max_visitors_per_escort": "3"})
    assert edit.status_code == 302
    with app.app_context():
        assert db.session.get(Room, rid).name == "Renamed"


def test_access_list_grant_and_revoke(as_role, make, app):
    rid = make.room()
    pid = make.person(name="Escort One")
    officer = as_role("officer")
    assert officer.post(f"/rooms/{rid}/access", data={"person_id": pid}).status_code == 302
    assert "Escort One" in officer.get(f"/rooms/{rid}").get_data(as_text=True)
    officer.post(f"/rooms/{rid}/access", data={"person_id": pid})  # a second grant is refused, not doubled
    with app.app_context():
        rows = db.session.scalars(sa.select(RoomAccess).where(RoomAccess.room_id == rid)).all()
        assert len(rows) == 1
        access_id = rows[0].id
    assert officer.post(f"/rooms/{rid}/access/{access_id}/revoke").status_code == 302
    with app.app_context():
        assert db.session.get(RoomAccess, access_id).revoked_at is not None
    inspector = as_role("inspector")
    assert inspector.post(f"/rooms/{rid}/access", data={"person_id": pid}).status_code == 403


def test_guard_sees_room_without_history(as_role, make):
    rid = make.room(name="Guarded")
    page = as_role("guard").get(f"/rooms/{rid}")
    assert page.status_code == 200 and "Guarded" in page.get_data(as_text=True)
    assert "room.create" not in page.get_data(as_text=True)
