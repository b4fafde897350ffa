"""The authorisation matrix (SECURITY-RESEARCH §7 items 13–15, 19) and object-level checks (IDOR).

DECLARED below is the contract, written out by hand from SPEC §1 (roles) and the views' gates:
for every endpoint and method, the roles that may use it. It is deliberately not computed from
the code, so that any change of a gate shows up as a change of this file in review.

- test_every_route_is_declared: a route (or method) missing from DECLARED fails (default deny),
  and every view's `required_roles` must say what DECLARED says.
- test_matrix: every rule x method x role (admin, officer, approver, staff, guard, inspector,
  anonymous) against the running app: a role outside the set gets 403 (anonymous: 401 from the
  API, a redirect to sign-in from pages); a role inside it never does.
- The inspector never changes anything; guards never reach items, checkouts, labels or exports.
- Object level: staff A cannot reach an item outside their need-to-know scope, or staff B's
  checkout, through any path (page, API, label image, scan, search, history, export), and the
  answer is the same as for an id that does not exist.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from registry.extensions import db
from tests.conftest import PASSWORD, Factory
from tests.hardening.conftest import demo_app

ROLES = ("admin", "officer", "approver", "staff", "guard", "inspector")
EVERYONE = frozenset(ROLES) | {"anonymous"}


def _roles(*names: str) -> frozenset:
    return frozenset(("admin",) + names)  # SPEC §1: admin may do everything


PUBLIC = EVERYONE
SIGNED_IN = frozenset(ROLES)
ADMIN = _roles()
OFFICER = _roles("officer")
APPROVER = _roles("approver")
READERS = _roles("officer", "approver", "inspector")            # "read every register"
READERS_STAFF = _roles("officer", "approver", "inspector", "staff")  # items: staff within their scope
READERS_GUARD = _roles("officer", "approver", "inspector", "guard")  # rooms and visitors: the guard station
OFFICER_INSPECTOR = _roles("officer", "inspector")              # audit, security events, exports, stocktakes
REQUESTERS = _roles("officer", "staff", "approver")             # ask for (and cancel) an approval
CUSTODY = _roles("officer", "staff")                            # check out (staff: self-service only)
GATE = _roles("guard", "officer")                               # entries and exits

DECLARED: dict[str, dict[str, frozenset]] = {
    "admin.create_user": {"GET": ADMIN, "POST": ADMIN},
    "admin.reset_password": {"POST": ADMIN},
    "admin.reset_totp": {"POST": ADMIN},
    "admin.revoke_token": {"POST": ADMIN},
    "admin.settings": {"GET": ADMIN, "POST": ADMIN},
    "admin.unlock": {"POST": OFFICER},
    "admin.user": {"GET": ADMIN, "POST": ADMIN},
    "admin.users": {"GET": ADMIN},
    "approvals.cancel": {"POST": REQUESTERS},
    "approvals.decide": {"POST": APPROVER},
    "approvals.inbox": {"GET": READERS_STAFF},
    "approvals.new": {"GET": REQUESTERS, "POST": REQUESTERS},
    "approvals.show": {"GET": READERS_STAFF},
    "approvals_api.cancel": {"POST": REQUESTERS},
    "approvals_api.create_approval": {"POST": REQUESTERS},
    "approvals_api.decide": {"POST": APPROVER},
    "approvals_api.get_approval": {"GET": READERS_STAFF},
    "approvals_api.list_approvals": {"GET": READERS_STAFF},
    "areas.create": {"GET": OFFICER, "POST": OFFICER},
    "areas.edit": {"GET": OFFICER, "POST": OFFICER},
    "areas.grant": {"POST": OFFICER},
    "areas.index": {"GET": READERS_GUARD},
    "areas.revoke": {"POST": OFFICER},
    "areas.show": {"GET": READERS_GUARD},
    "areas_api.create_room": {"POST": OFFICER},
    "areas_api.get_room": {"GET": READERS_GUARD},
    "areas_api.list_rooms": {"GET": READERS_GUARD},
    "areas_api.update_room": {"PATCH": OFFICER},
    "assets.act": {"GET": READERS_STAFF},
    "assets.add_inspection": {"POST": OFFICER},
    "assets.checkin": {"POST": OFFICER},
    "assets.checkout": {"POST": CUSTODY},
    "assets.checkouts": {"GET": READERS_STAFF},
    "assets.copy": {"GET": OFFICER, "POST": OFFICER},
    "assets.create": {"GET": OFFICER, "POST": OFFICER},
    "assets.custom_css": {"GET": OFFICER},
    "assets.desk_checkin": {"GET": OFFICER, "POST": OFFICER},
    "assets.desk_checkout": {"GET": OFFICER, "POST": OFFICER},
    "assets.edit": {"GET": OFFICER, "POST": OFFICER},
    "assets.index": {"GET": READERS_STAFF},
    "assets.label_png": {"GET": READERS_STAFF},
    "assets.label_sheet": {"GET": OFFICER},
    "assets.label_svg": {"GET": READERS_STAFF},
    "assets.reissue_label": {"POST": OFFICER},
    "assets.scan_code": {"GET": PUBLIC},
    "assets.scan_page": {"GET": READERS_STAFF, "POST": READERS_STAFF},
    "assets.set_status": {"POST": OFFICER},
    "assets.show": {"GET": READERS_STAFF},
    "assets_api.add_inspection": {"POST": OFFICER},
    "assets_api.checkin": {"POST": OFFICER},
    "assets_api.checkout": {"POST": CUSTODY},
    "assets_api.create_asset": {"POST": OFFICER},
    "assets_api.get_asset": {"GET": READERS_STAFF},
    "assets_api.list_assets": {"GET": READERS_STAFF},
    "assets_api.list_checkouts": {"GET": READERS_STAFF},
    "assets_api.make_copies": {"POST": OFFICER},
    "assets_api.reissue_label": {"POST": OFFICER},
    "assets_api.scan_code": {"GET": SIGNED_IN},
    "assets_api.update_asset": {"PATCH": OFFICER},
    "auth.account": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "auth.language": {"POST": PUBLIC},
    "auth.login": {"GET": PUBLIC, "POST": PUBLIC},
    "auth.logout": {"POST": SIGNED_IN},
    "auth.reauth": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "auth.setup": {"GET": PUBLIC, "POST": PUBLIC},
    "auth.totp": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "auth_api.create_token": {"POST": PUBLIC},
    "cooperation.project_edit": {"GET": OFFICER, "POST": OFFICER},
    "cooperation.project_new": {"GET": OFFICER, "POST": OFFICER},
    "cooperation.project_review": {"POST": OFFICER},
    "cooperation.project_show": {"GET": READERS},
    "cooperation.projects": {"GET": READERS},
    "cooperation_api.create_project": {"POST": OFFICER},
    "cooperation_api.get_project": {"GET": READERS},
    "cooperation_api.list_projects": {"GET": READERS},
    "cooperation_api.update_project": {"PATCH": OFFICER},
    "core.audit_trail": {"GET": OFFICER_INSPECTOR},
    "core.audit_verify": {"POST": OFFICER_INSPECTOR},
    "core.dashboard": {"GET": SIGNED_IN},
    "core.healthz": {"GET": PUBLIC},
    "core.security_events": {"GET": OFFICER_INSPECTOR},
    "core_api.audit_verify": {"GET": OFFICER_INSPECTOR},
    "core_api.openapi_json": {"GET": PUBLIC},
    "core_api.security_events": {"GET": OFFICER_INSPECTOR},
    "dashboard_api.dashboard": {"GET": SIGNED_IN},
    "destructions.index": {"GET": OFFICER_INSPECTOR},
    "destructions.new": {"GET": OFFICER, "POST": OFFICER},
    "destructions.request_approval": {"POST": OFFICER},
    "destructions.show": {"GET": OFFICER_INSPECTOR},
    "exports.download": {"GET": OFFICER_INSPECTOR},
    "exports.import_confirm": {"POST": OFFICER},
    "exports.import_form": {"GET": OFFICER},
    "exports.import_upload": {"POST": OFFICER},
    "exports.index": {"GET": OFFICER_INSPECTOR},
    "exports.job": {"GET": OFFICER_INSPECTOR},
    "exports.job_download": {"GET": OFFICER_INSPECTOR},
    "exports.job_status": {"GET": OFFICER_INSPECTOR},
    "exports.pack": {"GET": OFFICER_INSPECTOR},
    "exports.template": {"GET": OFFICER},
    "exports_api.export_register": {"GET": OFFICER_INSPECTOR},
    "exports_api.import_register": {"POST": OFFICER},
    "exports_api.job": {"GET": OFFICER_INSPECTOR},
    "exports_api.pack": {"GET": OFFICER_INSPECTOR},
    "exports_api.template": {"GET": OFFICER},
    "people.acknowledge": {"POST": REQUESTERS},
    "people.add_reminder": {"POST": OFFICER},
    "people.add_training": {"POST": OFFICER},
    "people.commitments": {"GET": READERS},
    "people.create": {"GET": OFFICER, "POST": OFFICER},
    "people.edit": {"GET": OFFICER, "POST": OFFICER},
    "people.edit_training": {"GET": OFFICER, "POST": OFFICER},
    "people.holdings": {"GET": READERS},
    "people.index": {"GET": READERS},
    "people.leave": {"POST": OFFICER},
    "people.lookup": {"GET": READERS_GUARD},  # the person picker; guards: escorts (scope checked inside)
    "people.my_reminders": {"GET": REQUESTERS},
    "people.reminders": {"GET": READERS},
    "people.show": {"GET": READERS},
    "people.trainings": {"GET": READERS},
    "people_api.acknowledge_reminder": {"POST": REQUESTERS},
    "people_api.add_reminder": {"POST": OFFICER},
    "people_api.add_training": {"POST": OFFICER},
    "people_api.commitments": {"GET": READERS},
    "people_api.create_person": {"POST": OFFICER},
    "people_api.get_person": {"GET": READERS},
    "people_api.holdings": {"GET": READERS},
    "people_api.leave": {"POST": OFFICER},
    "people_api.list_people": {"GET": READERS},
    "people_api.list_reminders": {"GET": READERS},
    "people_api.list_trainings": {"GET": READERS},
    "people_api.update_person": {"PATCH": OFFICER},
    "people_api.update_training": {"PATCH": OFFICER},
    "provisions.agreement": {"POST": OFFICER},
    "provisions.create": {"GET": OFFICER, "POST": OFFICER},
    "provisions.edit": {"GET": OFFICER, "POST": OFFICER},
    "provisions.index": {"GET": READERS},
    "provisions.provided": {"POST": OFFICER},
    "provisions.reject": {"POST": OFFICER},
    "provisions.request_approval": {"POST": OFFICER},
    "provisions.review": {"POST": OFFICER},
    "provisions.show": {"GET": READERS},
    "provisions.treatment": {"POST": OFFICER},
    "provisions_api.create_provision": {"POST": OFFICER},
    "provisions_api.get_provision": {"GET": READERS},
    "provisions_api.list_provisions": {"GET": READERS},
    "provisions_api.mark_provided": {"POST": OFFICER},
    "provisions_api.reject": {"POST": OFFICER},
    "provisions_api.request_approval": {"POST": OFFICER},
    "provisions_api.update_provision": {"PATCH": OFFICER},
    "stocktake.close": {"POST": OFFICER},
    "stocktake.inventories": {"GET": OFFICER_INSPECTOR},
    "stocktake.inventory": {"GET": OFFICER_INSPECTOR},
    "stocktake.scan": {"POST": OFFICER},
    "stocktake.start": {"POST": OFFICER},
    "stocktake.walk": {"GET": OFFICER},
    "stocktake_api.add_scan": {"POST": OFFICER},
    "stocktake_api.close_inventory": {"POST": OFFICER},
    "stocktake_api.create_destruction": {"POST": OFFICER},
    "stocktake_api.get_destruction": {"GET": OFFICER_INSPECTOR},
    "stocktake_api.get_inventory": {"GET": OFFICER_INSPECTOR},
    "stocktake_api.list_destructions": {"GET": OFFICER_INSPECTOR},
    "stocktake_api.list_inventories": {"GET": OFFICER_INSPECTOR},
    "stocktake_api.start_inventory": {"POST": OFFICER},
    "visits.approval_request": {"POST": OFFICER},
    "visits.badge_reissue": {"POST": OFFICER},
    "visits.badges": {"GET": GATE},
    "visits.blocklist": {"GET": READERS},
    "visits.end_of_day": {"GET": GATE},
    "visits.guard": {"GET": GATE},
    "visits.guard_board": {"GET": GATE},
    "visits.guard_enter": {"POST": GATE},
    "visits.guard_exit": {"POST": GATE},
    "visits.guard_room": {"GET": GATE},
    "visits.permission_new": {"POST": OFFICER},
    "visits.permission_revoke": {"POST": OFFICER},
    "visits.permissions": {"GET": READERS},
    "visits.rollcall": {"GET": GATE},
    "visits.visitor_block": {"POST": OFFICER},
    "visits.visitor_edit": {"GET": OFFICER, "POST": OFFICER},
    "visits.visitor_new": {"GET": OFFICER, "POST": OFFICER},
    "visits.visitor_show": {"GET": READERS_GUARD},
    "visits.visitor_unblock": {"POST": OFFICER},
    "visits.visitors": {"GET": READERS},
    "visits.visits_log": {"GET": READERS},
    "visits_api.create_visitor": {"POST": OFFICER},
    "visits_api.enter": {"POST": GATE},
    "visits_api.exit_visit": {"POST": GATE},
    "visits_api.get_permission": {"GET": READERS_GUARD},
    "visits_api.get_visit": {"GET": READERS_GUARD},
    "visits_api.get_visitor": {"GET": READERS_GUARD},
    "visits_api.grant_permission": {"POST": OFFICER},
    "visits_api.list_permissions": {"GET": READERS_GUARD},
    "visits_api.list_visitors": {"GET": READERS_GUARD},
    "visits_api.list_visits": {"GET": READERS_GUARD},
    "visits_api.occupants": {"GET": READERS_GUARD},
    "visits_api.reissue_badge": {"POST": OFFICER},
    "visits_api.revoke_permission": {"DELETE": OFFICER},
    "visits_api.room_permissions": {"GET": READERS_GUARD},
    "visits_api.update_visitor": {"PATCH": OFFICER},
    "visits_api.visitor_permissions": {"GET": READERS_GUARD},
}

# POSTs that change nothing in a register: the inspector may use them.
READ_ONLY_POSTS = {"core.audit_verify", "assets.scan_page", "auth.login", "auth.logout", "auth.language",
                   "auth.reauth", "auth.account", "auth.totp", "auth_api.create_token", "auth.setup"}
# Blueprints about items, checkouts, labels, stocktakes and exports: never for a guard.
ITEM_BLUEPRINTS = ("assets", "assets_api", "exports", "exports_api", "stocktake", "stocktake_api", "destructions")
GUARD_ITEM_EXCEPTIONS = {
    "assets.scan_code": "public /s/<code>: a guard sees what anyone unauthorised sees (tested below)",
    "assets_api.scan_code": "any signed-in user may scan; an item's code answers a guard like an unknown one",
}


# An allowed role may still be refused by an object-level rule for the record the walk uses (id 1
# of the demo data): these endpoints may answer such a role 403, and only these.
OBJECT_RULES = {
    "approvals.cancel": "only the requester cancels an approval",
    "approvals_api.cancel": "only the requester cancels an approval",
    "people.acknowledge": "only the reminded person acknowledges a reminder",
    "people_api.acknowledge_reminder": "only the reminded person acknowledges a reminder",
    "assets.copy": "copying a confidential item needs an approved copy approval (approval_required)",
    "people.lookup": "a picker scope is only for the roles whose forms use it (guards: escorts, not ?scope=active)",
}
# Answers that send a signed-in user to the sign-in page by design.
SIGN_IN_REDIRECTS = {"auth.setup": "setup is closed once an account exists", "auth.logout": "signed out"}


def _methods(rule):
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


# ------------------------------------------------------------------ the declaration itself

def test_every_route_is_declared(app):
    problems = []
    seen = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        gate = set(getattr(view, "required_roles", None) or ())
        actual = PUBLIC if "public" in gate else SIGNED_IN if "*" in gate else _roles(*gate)
        for method in _methods(rule):
            seen.add((rule.endpoint, method))
            declared = DECLARED.get(rule.endpoint, {}).get(method)
            if declared is None:
                problems.append(f"undeclared (default deny): {method} {rule.rule} ({rule.endpoint})")
            elif declared != actual:
                problems.append(f"{method} {rule.rule}: declared {sorted(declared)}, the view allows {sorted(actual)}")
    stale = {(ep, m) for ep, ms in DECLARED.items() for m in ms} - seen
    problems += [f"declared but no longer routed: {m} {ep}" for ep, m in sorted(stale)]
    assert not problems, "\n".join(problems)


def test_policy_invariants():
    """The inspector changes nothing; guards reach nothing about items; admin passes everything."""
    for endpoint, methods in DECLARED.items():
        for method, roles in methods.items():
            assert "admin" in roles, endpoint
            if method != "GET" and endpoint not in READ_ONLY_POSTS and roles is not PUBLIC:
                assert "inspector" not in roles, f"inspector may {method} {endpoint}"
            if endpoint.split(".")[0] in ITEM_BLUEPRINTS and endpoint not in GUARD_ITEM_EXCEPTIONS:
                assert "guard" not in roles, f"guard reaches {method} {endpoint}"


# ------------------------------------------------------------------ the running app

@pytest.fixture(scope="module")
def authz_app(hardening_db, tmp_path_factory):
    with demo_app(hardening_db, tmp_path_factory.mktemp("authz-instance")) as app:
        yield app


class Actor:
    """One role: a signed-in browser session for pages and a bearer token for the API."""

    def __init__(self, app, role: str, person_id=None):
        self.role = role
        self.app = app
        self.page = app.test_client()
        self.api = app.test_client()
        self.token = None
        if role == "anonymous":
            return
        make = Factory(app)
        uid = make.user(role, person_id=person_id)
        with app.app_context():
            from registry.auth.models import User

            self.username = db.session.get(User, uid).username
        self.user_id = uid
        self.token = make.token(uid)
        self.sign_in()

    def sign_in(self):
        resp = self.page.post("/login", data={"username": self.username, "password": PASSWORD})
        assert resp.status_code == 302, (self.role, resp.status_code)

    def request(self, method: str, url: str, **kw):
        if url.startswith("/api/"):
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            return self.api.open(url, method=method, headers=headers, **kw)
        return self.page.open(url, method=method, **kw)


def _fill(rule, ids: dict) -> str:
    def repl(m):
        name = m.group(2)
        return str(ids.get(name, 1))

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", repl, rule.rule)


def _ids(app) -> dict:
    """Existing records for the path parameters (demo data), plus a sacrificial API token."""
    with app.app_context():
        code = db.session.scalar(sa.text("SELECT label_code FROM assets WHERE label_code IS NOT NULL ORDER BY id"))
        from registry.auth.models import User
        from registry.auth import services

        user = db.session.scalar(sa.select(User).where(User.username == "inspector"))
        services.create_token(db.session, user, actor=None, name="sacrificial")
        db.session.commit()
        token_id = db.session.scalar(sa.text("SELECT max(id) FROM api_tokens"))
    return {"code": code, "register": "people", "job_id": "0" * 32, "token": "x", "token_id": token_id}


def _expected_denial(actor, rule) -> set[int]:
    if actor.role != "anonymous":
        return {403}
    return {401} if rule.rule.startswith("/api/") else {302}


@pytest.mark.slow
def test_matrix(authz_app):
    actors = {role: Actor(authz_app, role) for role in (*ROLES, "anonymous")}
    ids = _ids(authz_app)
    rules = [r for r in authz_app.url_map.iter_rules() if r.endpoint != "static"]
    # sign-out last: it ends the session the other requests use
    rules.sort(key=lambda r: (r.endpoint == "auth.logout", r.rule))
    problems = []
    count = 0
    for rule in rules:
        url = _fill(rule, ids)
        for method in _methods(rule):
            allowed = DECLARED.get(rule.endpoint, {}).get(method, frozenset())
            for role, actor in actors.items():
                resp = actor.request(method, url)
                count += 1
                status = resp.status_code
                to_login = status == 302 and "/login" in resp.headers.get("Location", "")
                if role in allowed:
                    if status == 403 and rule.endpoint in OBJECT_RULES:
                        continue
                    if to_login and rule.endpoint in SIGN_IN_REDIRECTS:
                        if rule.endpoint == "auth.logout" and role != "anonymous":
                            actor.sign_in()
                        continue
                    if status in (401, 403) or (to_login and role != "anonymous") or status >= 500:
                        problems.append(f"{role} refused ({status}) on allowed {method} {url}")
                else:
                    expected = _expected_denial(actor, rule)
                    if status not in expected or (status == 302 and not to_login):
                        problems.append(f"{role} got {status} on {method} {url}, expected {sorted(expected)}")
                    if role == "inspector" and 200 <= status < 300 and method != "GET":
                        problems.append(f"inspector changed something: {method} {url} -> {status}")
                if role in ("admin", "officer", "approver", "staff", "guard", "inspector") and status in (401, 302):
                    if to_login and role != "anonymous":
                        actor.sign_in()  # keep the session for the next requests
    assert count > 800
    from tests.hardening.conftest import figure

    figure("authorisation matrix", rules=len(rules), requests=count, roles=len(actors),
           endpoints=len(DECLARED), endpoint_methods=sum(len(m) for m in DECLARED.values()))
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ object level (IDOR)

MISSING = 2**31 - 7  # an id no record has


@pytest.fixture(scope="module")
def scoped(authz_app):
    """Staff A and B (own departments), an officer; item X in A's need-to-know scope only,
    item Y open to both and checked out by B, item Z scoped to A's department."""
    make = Factory(authz_app)
    pa = make.person(category="core", department="Lab A")
    pb = make.person(category="core", department="Lab B")
    a, b = Actor(authz_app, "staff", person_id=pa), Actor(authz_app, "staff", person_id=pb)
    officer = Actor(authz_app, "officer")
    guard = Actor(authz_app, "guard")

    def asset(title, scope):
        resp = officer.request("POST", "/api/v1/assets", json={
            "kind": "media", "subtype": "paper", "level": "internal", "title": title, "scope": scope})
        assert resp.status_code == 201, resp.data[:300]
        return resp.get_json()

    x = asset("IDOR-X only A", {"person_ids": [pa]})
    y = asset("IDOR-Y open", {})
    z = asset("IDOR-Z Lab A", {"departments": ["Lab A"]})
    out = b.request("POST", f"/api/v1/assets/{y['id']}/checkout", json={"borrower_id": pb, "purpose": "B's own"})
    assert out.status_code == 201, out.data[:300]
    return {"a": a, "b": b, "officer": officer, "guard": guard, "pa": pa, "pb": pb, "x": x, "y": y, "z": z,
            "checkout": out.get_json()}


def _same_refusal(resp, reference):
    """Identical answer for a hidden record and a missing one (no existence oracle)."""
    assert resp.status_code == reference.status_code and resp.status_code in (403, 404), \
        (resp.status_code, reference.status_code, resp.request.path)
    if resp.is_json:
        assert resp.get_json() == reference.get_json()


def _norm(html: str) -> str:
    return re.sub(r'(content|value)="[^"]*"', "", html)


@pytest.mark.parametrize("template", [
    "/api/v1/assets/{id}", "/items/{id}", "/items/{id}/act", "/api/v1/checkouts?asset_id={id}&_probe=1",
])
def test_hidden_item_answers_like_a_missing_one(scoped, template):
    b, x = scoped["b"], scoped["x"]
    hidden = b.request("GET", template.format(id=x["id"]))
    missing = b.request("GET", template.format(id=MISSING))
    if "checkouts" in template:
        assert hidden.status_code == 200 and hidden.get_json()["items"] == [] == missing.get_json()["items"]
        return
    _same_refusal(hidden, missing)
    if not hidden.is_json:
        assert _norm(hidden.get_data(as_text=True)) == _norm(missing.get_data(as_text=True))
    assert "IDOR-X" not in hidden.get_data(as_text=True)
    # the owner of the scope does see it: the refusal is about scope, not a broken route
    assert scoped["a"].request("GET", template.format(id=x["id"])).status_code == 200


def test_hidden_item_label_and_scan_answer_like_unknown_codes(scoped):
    b, x = scoped["b"], scoped["x"]
    unknown = "Q" * 20
    for path in ("/labels/{}.svg", "/labels/{}.png", "/api/v1/scan/{}"):
        hidden = b.request("GET", path.format(x["label_code"]))
        missing = b.request("GET", path.format(unknown))
        _same_refusal(hidden, missing)
        # the page echoes its own path (sign-out and language forms) and a fresh CSRF token:
        # compare with the code blanked and the tokens dropped
        assert _norm(hidden.get_data(as_text=True)).replace(x["label_code"], "CODE") == \
            _norm(missing.get_data(as_text=True)).replace(unknown, "CODE")
    assert scoped["a"].request("GET", f"/api/v1/scan/{x['label_code']}").status_code == 200
    # /s/<code>: the public landing of a QR
    hidden = b.request("GET", f"/s/{x['label_code']}")
    missing = b.request("GET", f"/s/{unknown}")
    assert hidden.status_code == missing.status_code
    assert _norm(hidden.get_data(as_text=True)).replace(x["label_code"], "CODE") == \
        _norm(missing.get_data(as_text=True)).replace(unknown, "CODE")


def test_hidden_item_not_in_search_lists_or_sequential_ids(scoped, authz_app):
    b, x, z = scoped["b"], scoped["x"], scoped["z"]
    for q in ("IDOR-X", "IDOR", "%", x["registry_no"]):
        listed = b.request("GET", f"/api/v1/assets?q={q}&per_page=200").get_json()["items"]
        assert x["id"] not in [i["id"] for i in listed] and z["id"] not in [i["id"] for i in listed], q
        page = b.request("GET", f"/items/?q={q}").get_data(as_text=True).replace(q, "")  # the search box echoes q
        assert "only A" not in page and x["registry_no"] not in page and z["registry_no"] not in page
    assert x["id"] in [i["id"] for i in scoped["a"].request("GET", "/api/v1/assets?q=IDOR").get_json()["items"]]
    # walking the ids: every item B may not see answers exactly like a missing one
    with authz_app.app_context():
        top = db.session.scalar(sa.text("SELECT max(id) FROM assets"))
    reference = b.request("GET", f"/api/v1/assets/{MISSING}")
    seen = 0
    for i in range(1, top + 3):
        resp = b.request("GET", f"/api/v1/assets/{i}")
        if resp.status_code == 200:
            seen += 1
            continue
        _same_refusal(resp, reference)
    assert 0 < seen < top


def test_another_staff_members_checkout_is_invisible(scoped):
    a, b, y, pb = scoped["a"], scoped["b"], scoped["y"], scoped["pb"]
    checkout = scoped["checkout"]
    for url in ("/api/v1/checkouts?per_page=200", f"/api/v1/checkouts?borrower_id={pb}",
                f"/api/v1/checkouts?asset_id={y['id']}"):
        assert checkout["id"] not in [c["id"] for c in a.request("GET", url).get_json()["items"]], url
    assert checkout["id"] in [c["id"] for c in b.request("GET", "/api/v1/checkouts").get_json()["items"]]
    page = a.request("GET", "/checkouts/").get_data(as_text=True)
    assert "B's own" not in page
    # nor can A return it, on the desk page or through the API
    assert a.request("POST", f"/api/v1/assets/{y['id']}/checkin", json={"condition": "intact"}).status_code == 403
    assert a.request("POST", f"/items/{y['id']}/checkin", data={"condition": "intact"}).status_code == 403


def test_staff_and_guard_get_no_export(scoped):
    for who in ("a", "guard"):
        actor = scoped[who]
        for url in ("/api/v1/exports/assets.xlsx", "/api/v1/exports/checkouts.xlsx",
                    "/api/v1/exports/assets.xlsx?room=1&from=2000-01-01", "/api/v1/exports/inspection-pack.xlsx",
                    "/registers/assets.xlsx", "/registers/inspection-pack.xlsx"):
            assert actor.request("GET", url).status_code == 403, (who, url)


def test_guard_learns_nothing_about_items(scoped):
    guard, x, y = scoped["guard"], scoped["x"], scoped["y"]
    unknown = "Q" * 20
    for path in ("/api/v1/scan/{}", "/s/{}"):
        item = guard.request("GET", path.format(y["label_code"]))
        missing = guard.request("GET", path.format(unknown))
        assert item.status_code == missing.status_code
        assert _norm(item.get_data(as_text=True)).replace(y["label_code"], "CODE") == \
            _norm(missing.get_data(as_text=True)).replace(unknown, "CODE")
    for url in (f"/api/v1/assets/{x['id']}", "/api/v1/assets", "/api/v1/checkouts", f"/items/{y['id']}",
                f"/labels/{y['label_code']}.svg", "/print/labels?asset_ids=1"):
        assert guard.request("GET", url).status_code == 403, url
    tiles = guard.request("GET", "/api/v1/dashboard").get_json()["tiles"]
    assert not [t for t in tiles if re.search(r"asset|item|checkout|overdue|inventor|destruct", t["key"] or "")], tiles
    board = guard.request("GET", "/").get_data(as_text=True) + guard.request("GET", "/guard").get_data(as_text=True)
    assert "IDOR-" not in board and y["registry_no"] not in board


def test_get_never_reaches_an_action(authz_app):
    """GET on a route that only changes state is a 405 (SECURITY-RESEARCH §7 item 27)."""
    admin = Actor(authz_app, "admin")
    ids = {"code": "x", "register": "people", "job_id": "0" * 32, "token": "x"}
    readable = {r.rule for r in authz_app.url_map.iter_rules() if "GET" in r.methods}
    actions = [r for r in authz_app.url_map.iter_rules() if r.rule not in readable]
    assert len(actions) > 30
    for rule in actions:
        url = _fill(rule, ids)
        resp = admin.request("GET", url)
        assert resp.status_code == 405, (rule.rule, resp.status_code)
        if url.startswith("/api/"):
            assert resp.get_json()["error"]["code"] == "method_not_allowed"
