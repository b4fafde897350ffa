"""Object-level authorisation (IDOR) on every route that reaches an object (SECURITY-RESEARCH §7
items 14, 15, 18, 19, 20; SPEC §1 roles, §4 "a refusal ... is recorded").

Two tables:

- Behind a role gate (derived from app.url_map and test_authz.DECLARED): every rule with an id
  or code parameter x method x role that the gate refuses answers an existing record and a
  missing one identically (same status, same body): the gate runs before the record is loaded.
- Object rules for roles the gate lets in (OBJECT_CASES, written out by hand from SPEC §1 and the
  domain rules assets.rules.can_view_asset / can_view_checkout, approvals.rules.can_read,
  people.services.can_read_reminder): the owner (or a permitted role) gets the object; anyone
  else gets exactly what a missing id gets — on the page, the API, the label images, the scan,
  the approval request that names it, list filters, search and the item's history. A refused
  write (POST/PATCH on another's object) changes nothing and is recorded as a security event.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from registry.extensions import db
from tests.conftest import Factory
from tests.hardening.conftest import demo_app
from tests.hardening.test_authz import DECLARED, MISSING, ROLES, Actor, _methods, _norm

UNKNOWN_CODE = "Q" * 20


@pytest.fixture(scope="module")
def idor_app(hardening_db, tmp_path_factory):
    with demo_app(hardening_db, tmp_path_factory.mktemp("idor-instance")) as app:
        yield app


@pytest.fixture(scope="module")
def world(idor_app):
    """Staff A (Lab A) and B (Lab B), an approver, an officer, a guard and an inspector.
    X: an item in A's need-to-know only. Y: open to everyone, checked out by B. AP: A's checkout
    approval for X. REM: a secrecy reminder given to A."""
    make = Factory(idor_app)
    pa = make.person(category="core", department="Lab A", name="Alice Scoped")
    pb = make.person(category="core", department="Lab B", name="Bob Borrower")
    w = {"pa": pa, "pb": pb, "a": Actor(idor_app, "staff", person_id=pa), "b": Actor(idor_app, "staff", person_id=pb)}
    for role in ("officer", "approver", "guard", "inspector", "anonymous"):
        w[role] = Actor(idor_app, role)
    officer = w["officer"]

    def asset(title, scope):
        resp = officer.request("POST", "/api/v1/assets", json={
            "kind": "media", "subtype": "paper", "level": "internal", "title": title, "scope": scope})
        assert resp.status_code == 201, resp.data[:300]
        return resp.get_json()

    w["x"] = asset("IDOR-X only A", {"person_ids": [pa]})
    # X2: also A's only, its first label reissued (the old code is revoked)
    x2 = asset("IDOR-X2 only A", {"person_ids": [pa]})
    reissued = officer.request("POST", f"/api/v1/assets/{x2['id']}/label", json={"reason": "damaged"})
    assert reissued.status_code in (200, 201), reissued.data[:300]
    w["revoked"] = x2["label_code"]
    w["y"] = asset("IDOR-Y open", {})
    out = w["b"].request("POST", f"/api/v1/assets/{w['y']['id']}/checkout",
                         json={"borrower_id": pb, "purpose": "Bob's own loan"})
    assert out.status_code == 201, out.data[:300]
    w["checkout"] = out.get_json()
    ap = w["a"].request("POST", "/api/v1/approvals", json={
        "kind": "checkout", "asset_id": w["x"]["id"], "borrower_id": pa, "purpose": "Alice needs X"})
    assert ap.status_code == 201, ap.data[:300]
    w["ap"] = ap.get_json()
    rem = officer.request("POST", f"/api/v1/people/{pa}/reminders", json={
        "date": "2026-01-05", "occasion": "trip", "description": "Alice trip reminder"})
    assert rem.status_code == 201, rem.data[:300]
    w["rem"] = rem.get_json()
    return w


def _events(app, actor) -> int:
    with app.app_context():
        try:
            return db.session.scalar(sa.text("SELECT count(*) FROM security_events WHERE actor_id = :u"),
                                     {"u": actor.user_id})
        finally:
            db.session.rollback()


def _same(hidden, missing, *, blank=()):
    """The same answer for a hidden record and a missing one: status, and body (JSON equal; HTML
    equal once CSRF tokens and the echoed request paths are blanked). `blank`: pairs of the
    strings that differ between the two requests (their URLs, a label code)."""
    assert hidden.status_code == missing.status_code, (hidden.status_code, missing.status_code)
    if hidden.is_json or missing.is_json:
        assert hidden.get_json() == missing.get_json()
        return
    h, m = _norm(hidden.get_data(as_text=True)), _norm(missing.get_data(as_text=True))
    for a, b in sorted(blank, key=lambda p: -len(str(p[0]))):
        for fa, fb in ((str(a), str(b)), (quote(str(a), safe=""), quote(str(b), safe="")),
                       (quote(str(a)), quote(str(b)))):
            h, m = h.replace(fa, "BLANK"), m.replace(fb, "BLANK")
    assert h == m


# ------------------------------------------------------------------ 1. behind the role gates

ID_PARAM = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _object_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or not rule.arguments:
            continue
        if any(conv in ("int", "id") for conv, _name in ID_PARAM.findall(rule.rule)) or "code" in rule.arguments:
            yield rule


def _url(rule, record_id, code) -> str:
    fixed = {"code": code, "register": "people", "job_id": "0" * 32, "token": "x"}

    def repl(m):
        return str(fixed.get(m.group(2), record_id))

    return ID_PARAM.sub(repl, rule.rule)


@pytest.mark.slow
def test_refused_roles_learn_nothing_about_existence(idor_app, world):
    """Every object route x method x refused role: an existing id (1, demo data) and a missing one
    answer alike. SECURITY-RESEARCH §7 item 14 "an identical 403 or 404"."""
    with idor_app.app_context():
        code = db.session.scalar(sa.text("SELECT label_code FROM assets WHERE label_code IS NOT NULL ORDER BY id"))
    actors = {r: world[r] for r in ("officer", "approver", "guard", "inspector", "anonymous")}
    actors["staff"] = world["b"]
    rules = list(_object_rules(idor_app))
    checked, problems = 0, []
    for rule in rules:
        for method in _methods(rule):
            allowed = DECLARED[rule.endpoint][method]
            for role, actor in actors.items():
                if role in allowed:
                    continue
                existing, missing = _url(rule, 1, code), _url(rule, MISSING, UNKNOWN_CODE)
                h, m = actor.request(method, existing), actor.request(method, missing)
                checked += 1
                try:
                    _same(h, m, blank=((existing, missing),))
                except AssertionError as exc:
                    problems.append(f"{role} {method} {rule.rule}: {exc}")
    assert len(rules) > 90 and checked > 250, (len(rules), checked)
    from tests.hardening.conftest import figure

    figure("existence behind role gates", object_rules=len(rules), refused_pairs=checked, requests=2 * checked)
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ 2. object rules (IDOR)

# (case, owner, other, method, path template, body). {x}/{y}: items; {code}: X's label; {ap}:
# A's approval; {rem}: A's reminder; {pa}/{pb}: the people. MISSING replaces the object's id
# (the person ids stay) for the reference answer.
OBJECT_CASES = [
    # an item outside B's need-to-know (assets.rules.can_view_asset)
    ("item page", "a", "b", "GET", "/items/{x}", None),
    ("item action page", "a", "b", "GET", "/items/{x}/act", None),
    ("item API", "a", "b", "GET", "/api/v1/assets/{x}", None),
    ("label SVG", "a", "b", "GET", "/labels/{code}.svg", None),
    ("label PNG", "a", "b", "GET", "/labels/{code}.png", None),
    ("label PNG by bearer", "a", "b", "GET", "/labels/{code}.png?api=1", None),
    ("scan API", "a", "b", "GET", "/api/v1/scan/{code}", None),
    ("scan page", "a", "b", "POST", "/scan", {"code": "{code}"}),
    ("revoked label: scan API", None, "b", "GET", "/api/v1/scan/{revoked}", None),
    ("revoked label: SVG", None, "b", "GET", "/labels/{revoked}.svg", None),
    ("revoked label: QR landing", None, "b", "GET", "/s/{revoked}", None),
    ("revoked label: QR landing, signed out", None, "anonymous", "GET", "/s/{revoked}", None),
    ("approval form naming it", "a", "b", "GET", "/approvals/new?kind=checkout&asset_id={x}", None),
    ("checkout API", None, "b", "POST", "/api/v1/assets/{x}/checkout", {"borrower_id": "{pb}", "purpose": "probe"}),
    ("checkout page", None, "b", "POST", "/items/{x}/checkout", {"purpose": "probe"}),
    ("checkout approval request", None, "b", "POST", "/api/v1/approvals",
     {"kind": "checkout", "asset_id": "{x}", "borrower_id": "{pb}", "purpose": "probe"}),
    ("checkout approval request for another", None, "b", "POST", "/api/v1/approvals",
     {"kind": "checkout", "asset_id": "{x}", "borrower_id": "{pa}", "purpose": "probe"}),
    ("destruction request (a kind staff may not ask)", None, "b", "POST", "/api/v1/approvals",
     {"kind": "destruction", "asset_ids": ["{x}"], "purpose": "probe"}),
    ("copy approval request", None, "b", "POST", "/api/v1/approvals",
     {"kind": "copy", "asset_id": "{x}", "copies": 1, "purpose": "probe"}),
    ("approval request page", None, "b", "POST", "/approvals/new",
     {"kind": "checkout", "asset_id": "{x}", "borrower_id": "{pb}", "purpose": "probe"}),
    # another person's approval request (approvals.rules.can_read)
    ("approval page", "a", "b", "GET", "/approvals/{ap}", None),
    ("approval API", "a", "b", "GET", "/api/v1/approvals/{ap}", None),
    ("cancel approval API", None, "b", "POST", "/api/v1/approvals/{ap}/cancel", None),
    ("cancel approval page", None, "b", "POST", "/approvals/{ap}/cancel", None),
    # another person's secrecy reminder (people.services.can_read_reminder)
    ("acknowledge reminder API", None, "b", "POST", "/api/v1/reminders/{rem}/acknowledge", None),
    ("acknowledge reminder page", None, "b", "POST", "/people/reminders/{rem}/acknowledge", None),
]

WRITES = [c for c in OBJECT_CASES if c[3] != "GET"]


def _fmt(value, ids):
    if isinstance(value, str):
        out = value.format(**ids)
        return int(out) if value.startswith("{") and out.isdigit() else out
    if isinstance(value, dict):
        return {k: _fmt(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fmt(v, ids) for v in value]
    return value


def _ids(world, missing=False):
    ids = {"x": world["x"]["id"], "y": world["y"]["id"], "code": world["x"]["label_code"], "ap": world["ap"]["id"],
           "rem": world["rem"]["id"], "pa": world["pa"], "pb": world["pb"], "revoked": world["revoked"]}
    if missing:
        ids.update(x=MISSING, y=MISSING, code=UNKNOWN_CODE, ap=MISSING, rem=MISSING, revoked=UNKNOWN_CODE)
    return ids


def _call(actor, method, template, body, ids):
    url = _fmt(template, ids)
    if url.endswith("?api=1"):  # a label image fetched with a bearer token (API error shape)
        return actor.api.open(url[:-6], method=method, headers={"Authorization": f"Bearer {actor.token}"})
    if body is None:
        return actor.request(method, url)
    body = _fmt(body, ids)
    if url.startswith("/api/"):
        return actor.request(method, url, json=body)
    return actor.request(method, url, data=body)


@pytest.mark.parametrize("case", OBJECT_CASES, ids=[c[0] for c in OBJECT_CASES])
def test_object_answers_like_a_missing_one(idor_app, world, case):
    name, owner, other, method, template, body = case
    real, gone = _ids(world), _ids(world, missing=True)
    before = _events(idor_app, world[other]) if other != "anonymous" else 0
    hidden = _call(world[other], method, template, body, real)
    after_hidden = _events(idor_app, world[other]) if other != "anonymous" else 0
    missing = _call(world[other], method, template, body, gone)
    assert hidden.status_code in (403, 404, 422) or "approvals/new" in template or "/s/" in template \
        or template == "/scan", (name, hidden.status_code)
    _same(hidden, missing, blank=((_fmt(template, real), _fmt(template, gone)), (real["code"], gone["code"]),
                                  (real["revoked"], gone["revoked"])))
    text = hidden.get_data(as_text=True)
    assert "IDOR-X" not in text and "Alice" not in text, name
    if method != "GET" and other != "anonymous" and "/scan" not in template:
        # a refused write on a record that exists is recorded (the missing one need not be)
        assert after_hidden > before, f"{name}: refusal not recorded as a security event"
    if owner is not None:
        mine = _call(world[owner], method, template, body, real)
        if template == "/scan":  # the scan page sends the owner on to the item's action page
            assert mine.status_code == 302 and mine.headers["Location"].endswith(f"/items/{real['x']}/act"), name
            return
        assert mine.status_code == 200, (name, mine.status_code)
        assert mine.mimetype.startswith("image/") or mine.is_json or "IDOR-X" in mine.get_data(as_text=True), name


def test_refused_writes_changed_nothing(idor_app, world):
    """After every refused write above (whatever order they ran in): X is still available, A's
    approval is pending, A's reminder unacknowledged, and B asked for nothing."""
    for case in WRITES:
        _call(world[case[2]], case[3], case[4], case[5], _ids(world))
    with idor_app.app_context():
        q = lambda sql, **p: db.session.scalar(sa.text(sql), p)  # noqa: E731
        assert q("SELECT status FROM assets WHERE id = :i", i=world["x"]["id"]) == "available"
        assert q("SELECT status FROM approvals WHERE id = :i", i=world["ap"]["id"]) == "pending"
        assert not q("SELECT acknowledged FROM reminders WHERE id = :i", i=world["rem"]["id"])
        assert q("SELECT count(*) FROM approvals WHERE requested_by = :u", u=world["b"].user_id) == 0
        db.session.rollback()


def test_owner_and_permitted_roles_act_on_their_own(world):
    """The other side of each refusal: the reminded person acknowledges, the requester cancels,
    and a role that reads every register gets a visible 403 (not a 404) for what is not theirs."""
    approver = world["approver"]
    # the approver reads every reminder and approval: refused as "not yours", recorded like any 403
    assert approver.request("GET", f"/api/v1/approvals/{world['ap']['id']}").status_code == 200
    refused = approver.request("POST", f"/api/v1/reminders/{world['rem']['id']}/acknowledge")
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"
    assert world["inspector"].request("POST", f"/api/v1/approvals/{world['ap']['id']}/cancel").status_code == 403
    mine = world["a"].request("POST", f"/api/v1/reminders/{world['rem']['id']}/acknowledge")
    assert mine.status_code == 200 and mine.get_json()["acknowledged"] is True
    # B's own request for an item B may see is accepted (the refusal above is about X, not the route)
    own = world["b"].request("POST", "/api/v1/approvals", json={
        "kind": "copy", "asset_id": world["y"]["id"], "copies": 1, "purpose": "B copies Y"})
    assert own.status_code == 201, own.data[:300]
    assert world["b"].request("POST", f"/api/v1/approvals/{own.get_json()['id']}/cancel").status_code == 200


# ------------------------------------------------------------------ 3. lists, search, history

def test_lists_and_search_hold_only_what_the_user_may_see(world):
    a, b, x, y, pa, pb = world["a"], world["b"], world["x"], world["y"], world["pa"], world["pb"]
    ap, checkout = world["ap"], world["checkout"]
    # another person's approval, by list, filter and search
    for url in ("/api/v1/approvals?per_page=200", f"/api/v1/approvals?borrower_id={pa}",
                f"/api/v1/approvals?asset_id={x['id']}", "/api/v1/approvals?status=pending&kind=checkout"):
        assert ap["id"] not in [i["id"] for i in b.request("GET", url).get_json()["items"]], url
    assert ap["id"] in [i["id"] for i in a.request("GET", "/api/v1/approvals").get_json()["items"]]
    for url in ("/approvals/", "/approvals/?status=pending", "/approvals/?mine=1"):
        assert "Alice needs X" not in b.request("GET", url).get_data(as_text=True), url
    assert "Alice needs X" in a.request("GET", "/approvals/").get_data(as_text=True)
    # another person's checkout, by list, filter and search
    for url in ("/api/v1/checkouts?per_page=200", f"/api/v1/checkouts?borrower_id={pb}",
                f"/api/v1/checkouts?asset_id={y['id']}", "/api/v1/checkouts?open=true"):
        assert checkout["id"] not in [c["id"] for c in a.request("GET", url).get_json()["items"]], url
    for url in ("/checkouts/", f"/checkouts/?borrower_id={pb}", f"/checkouts/?asset_id={y['id']}",
                "/checkouts/?open=1", "/checkouts/?overdue=1"):
        assert "Bob" not in a.request("GET", url).get_data(as_text=True), url
    # another person's reminders
    assert "Alice trip reminder" not in b.request("GET", "/people/my-reminders").get_data(as_text=True)
    assert "Alice trip reminder" in a.request("GET", "/people/my-reminders").get_data(as_text=True)


def test_who_holds_an_item_is_anothers_checkout(world):
    """Y is open to A, but that B holds it (name, staff number, due date) is B's checkout: not on
    A's item page, action page, item list or search (SPEC §1: staff see their own checkouts)."""
    a, b, y = world["a"], world["b"], world["y"]
    for url in (f"/items/{y['id']}", f"/items/{y['id']}/act", "/items/", f"/items/?q={y['registry_no']}",
                "/items/?status=checked_out"):
        page = a.request("GET", url)
        assert page.status_code == 200, url
        text = page.get_data(as_text=True)
        assert y["registry_no"] in text, url
        assert "Bob Borrower" not in text, url
    for url in (f"/items/{y['id']}", f"/items/{y['id']}/act", "/items/"):
        assert "Bob Borrower" in b.request("GET", url).get_data(as_text=True), url
        assert "Bob Borrower" in world["inspector"].request("GET", url).get_data(as_text=True), url


def test_history_and_audit_views_stay_behind_their_gate(world):
    """The history of an object (audit trail filtered by entity, security events, the item page's
    history) is for officers and inspectors; staff, guards and approvers get the role refusal,
    whatever the entity."""
    x, ap = world["x"], world["ap"]
    for url in (f"/audit?entity_type=assets&entity_id={x['id']}", f"/audit?entity_type=approvals&entity_id={ap['id']}",
                f"/audit?entity_type=assets&entity_id={MISSING}", "/security-events?subject_type=assets",
                f"/api/v1/security-events?subject_id={x['id']}"):
        for who in ("b", "guard"):
            resp = world[who].request("GET", url)
            assert resp.status_code == 403, (who, url, resp.status_code)
        assert world["inspector"].request("GET", url).status_code == 200, url
    # on the item page, A (who may see X) sees no audit history or security events of it
    page = world["a"].request("GET", f"/items/{x['id']}").get_data(as_text=True)
    assert "asset.create" not in page and "approval.request" not in page


def test_export_filters_naming_a_hidden_record(world):
    """Staff and guards get no export at all, whatever filter names: the same 403 for a real person,
    room or item and for a missing one (SECURITY-RESEARCH §7 item 19)."""
    pb, x = world["pb"], world["x"]
    for who in ("a", "b", "guard"):
        actor = world[who]
        for real, gone in ((f"/api/v1/exports/checkouts.xlsx?person={pb}", f"/api/v1/exports/checkouts.xlsx?person={MISSING}"),
                           ("/api/v1/exports/assets.xlsx?room=1", f"/api/v1/exports/assets.xlsx?room={MISSING}"),
                           (f"/api/v1/exports/assets.xlsx?q={x['registry_no']}", "/api/v1/exports/assets.xlsx?q=NOPE"),
                           (f"/registers/checkouts.xlsx?person={pb}", f"/registers/checkouts.xlsx?person={MISSING}")):
            h, m = actor.request("GET", real), actor.request("GET", gone)
            assert h.status_code == 403, (who, real)
            _same(h, m, blank=((real, gone),))
