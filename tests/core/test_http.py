"""Security headers, CSRF, the API error shape, OpenAPI coverage and role gates on every route."""

import pytest

from registry.core.openapi import documented_rules
from tests.conftest import PASSWORD

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
       "worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/v1/openapi.json", "/nowhere", "/api/v1/nowhere"])
def test_security_headers_everywhere(client, path):
    resp = client.get(path)
    assert resp.headers["Content-Security-Policy"] == CSP
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert "camera=(self)" in resp.headers["Permissions-Policy"]
    assert resp.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in resp.headers  # only under HTTPS


def test_no_inline_script_or_style_in_pages(as_role):
    c = as_role("admin")
    for path in ["/", "/people/", "/rooms/", "/admin/users", "/admin/settings", "/audit", "/security-events",
                 "/account"]:
        html = c.get(path).get_data(as_text=True)
        assert "<script>" not in html and " style=" not in html and "<style" not in html, path
        assert "http://" not in html.replace("http://127.0.0.1", ""), path


class TestCsrf:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_login_without_token_refused(self, client, make):
        make.user("staff", username="zoe")
        resp = client.post("/login", data={"username": "zoe", "password": PASSWORD})
        assert resp.status_code == 400
        assert client.get("/").status_code == 302  # no session was started

    def test_login_with_token_works_and_api_needs_header(self, client, make):
        import re

        make.user("officer", username="yan")
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        assert client.post("/login", data={"username": "yan", "password": PASSWORD, "csrf_token": token}).status_code == 302
        body = {"name": "A", "employee_no": "C1", "nationality": "CN", "category": "none", "status": "active"}
        refused = client.post("/api/v1/people", json=body)  # cookie session, no X-CSRFToken
        assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "bad_request"
        meta = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
        ok = client.post("/api/v1/people", json=body, headers={"X-CSRFToken": meta})
        assert ok.status_code == 201

    def test_bearer_needs_no_csrf(self, api):
        officer = api("officer")
        resp = officer.post("/api/v1/rooms", json={"code": "Q1", "name": "Q", "level": "internal",
                                                   "foreign_policy": "open"})
        assert resp.status_code == 201


def _error(resp, status, code):
    assert resp.status_code == status, resp.data[:300]
    body = resp.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert "Traceback" not in resp.get_data(as_text=True)
    return body["error"]


def test_api_error_shapes(client, api, app):
    _error(client.get("/api/v1/people"), 401, "unauthenticated")
    _error(api("guard").get("/api/v1/people"), 403, "forbidden")
    officer = api("officer")
    _error(officer.get("/api/v1/people/999999"), 404, "not_found")
    _error(officer.get("/api/v1/nowhere"), 404, "not_found")
    _error(officer.delete("/api/v1/people"), 405, "method_not_allowed")
    details = _error(officer.post("/api/v1/people", json={"name": ""}), 422, "validation_error")["details"]
    assert "name" in details and "employee_no" in details
    assert "role" in _error(officer.post("/api/v1/people", json={"name": "x", "employee_no": "1", "role": "admin"}),
                            422, "validation_error")["details"]
    _error(officer.post("/api/v1/people", data="not json", content_type="application/json"), 400, "bad_request")
    _error(officer.post("/api/v1/people", json=[1, 2]), 400, "bad_request")
    _error(officer.get("/api/v1/people?per_page=201"), 422, "validation_error")
    _error(officer.get("/api/v1/people?page=abc"), 422, "validation_error")
    _error(officer.get("/api/v1/people?sort=name;--"), 422, "validation_error")
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    _error(officer.post("/api/v1/people", data=big, content_type="application/json"), 413, "too_large")


def test_500_is_generic(app, api):
    from registry.core.api import api_blueprint

    @app.get("/api/v1/boom")
    def boom():
        raise RuntimeError("secret internals")

    resp = api("officer").get("/api/v1/boom")
    err = _error(resp, 500, "internal_error")
    assert "secret internals" not in resp.get_data(as_text=True) and err["details"]["incident"]
    assert api_blueprint


def test_control_characters_refused(api):
    resp = api("officer").post("/api/v1/people", json={"name": "bad\x07name", "employee_no": "E\x1b1",
                                                       "nationality": "CN", "category": "none", "status": "active"})
    details = _error(resp, 422, "validation_error")["details"]
    assert "name" in details and "employee_no" in details


def test_search_wildcards_are_literal(api, make):
    make.person(name="100% sure", employee_no="W1")
    make.person(name="plain", employee_no="W2")
    officer = api("officer")
    assert [p["employee_no"] for p in officer.get("/api/v1/people?q=%25").get_json()["items"]] == ["W1"]
    assert officer.get("/api/v1/people?q=_").get_json()["total"] == 0


def test_openapi_covers_every_api_route(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    missing = []
    for rule in documented_rules(app):
        view = app.view_functions[rule.endpoint]
        path = rule.rule
        import re

        path = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", path)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if getattr(view, "openapi", None) is None or method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {rule.rule}")
    assert not missing, f"routes missing from the OpenAPI document: {missing}"


def test_every_route_declares_its_gate(app):
    """Default deny: every view is either public or role-gated (read by the authorization matrix)."""
    ungated = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        if not getattr(view, "required_roles", None):
            ungated.append(rule.rule)
    assert not ungated, f"routes without @roles_required or @public: {ungated}"


@pytest.mark.parametrize("role, path, allowed", [
    ("staff", "/admin/users", False), ("officer", "/admin/users", False), ("admin", "/admin/users", True),
    ("guard", "/people/", False), ("guard", "/rooms/", True), ("inspector", "/people/", True),
    ("inspector", "/people/new", False), ("approver", "/audit", False), ("inspector", "/audit", True),
    ("staff", "/security-events", False), ("officer", "/admin/settings", False),
])
def test_role_gates_on_pages(as_role, role, path, allowed):
    resp = as_role(role).get(path)
    assert (resp.status_code == 200) is allowed, (role, path, resp.status_code)
    if not allowed:
        assert resp.status_code == 403


def test_inspector_changes_nothing(api):
    inspector = api("inspector")
    assert inspector.post("/api/v1/people", json={"name": "x", "employee_no": "y"}).status_code == 403
    assert inspector.post("/api/v1/rooms", json={"code": "x", "name": "y"}).status_code == 403
