"""Wiring: the app starts, signs in, serves pages and API, and audits."""


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok", "db": "ok"}


def test_login_dashboard_logout(as_role):
    c = as_role("officer")
    resp = c.get("/")
    assert resp.status_code == 200
    assert c.username.encode() in resp.data
    assert c.post("/logout").status_code == 302
    assert c.get("/").status_code == 302


def test_api_people_roundtrip(api):
    officer = api("officer")
    resp = officer.post("/api/v1/people", json={"name": "王五", "employee_no": "X1", "nationality": "CN",
                                                "category": "general", "status": "active"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["clearance"] == "confidential"
    pid = body["id"]
    resp = officer.patch(f"/api/v1/people/{pid}", json={"department": "Lab 9"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["department"] == "Lab 9"
    assert resp.get_json()["name"] == "王五"
    listing = officer.get("/api/v1/people?q=Lab 9").get_json()
    assert listing["total"] == 1 and listing["page"] == 1
    verify = officer.get("/api/v1/audit/verify").get_json()
    assert verify["ok"] is True and verify["events"] >= 3
