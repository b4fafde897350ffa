"""Stored and reflected injection in every page (SECURITY-RESEARCH §7 item 21).

Every text field that the JSON API accepts (people, rooms, items, visitors, projects, provisions,
trainings, reminders, approvals, checkouts, inspections, permissions, visits, stocktake scans) is
filled with hostile values. The text fields are read from the OpenAPI document, so a new field
is covered without editing this test. Then an administrator's session crawls every page it can
reach (list, detail, history, label sheet, search, error pages) and checks the HTML:

- a payload never appears unescaped, and no href/src/action is a javascript: URL;
- `ssti{{7*7}}` never renders as `ssti49` (no template evaluates user data);
- the escaped payloads do appear (the stored values are really shown, so the test can fail).

Every page that shows a stored value is then opened in Chromium with a dialog listener (an
alert fails the test); the `page` fixture also fails on any CSP violation, which is what an
injected inline script or event handler would cause.
"""

from __future__ import annotations

import re
from collections import deque
from datetime import date, timedelta
from urllib.parse import urljoin, urlsplit

import pytest

from registry.extensions import db
from tests.browser.conftest import sign_in

PAYLOADS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "ssti{{7*7}}", "javascript:alert(1)"]
RAW_DANGER = ["<script>alert(1)</script>", "<img src=x onerror", "ssti49"]
JS_URL = re.compile(r"""(?:href|src|action|formaction|data)\s*=\s*["']?\s*(?:&#0*106;|j)\s*a\s*v\s*a\s*s\s*c\s*r\s*i\s*p\s*t\s*:""",
                    re.IGNORECASE)
# Text fields the document leaves open but that only take a key: a hostile value must be a 422;
# for these it is a 500 today (a domain defect, reported as a strict xfail in
# tests/hardening/test_injection.py::test_unknown_choice_in_body_is_422), so they are left out here.
NOT_TEXT = {"/api/v1/assets": {"subtype"}}
MAX_PAGES = 600
MAX_PER_PATH = 2  # query-string variants (pagination, filters) of one path
BROWSER_PER_ROUTE = 1  # pages per route shape opened in Chromium (every page's HTML is checked anyway)

today = date.today()


# ------------------------------------------------------------------ seeding through the API

class Seeder:
    def __init__(self, app):
        from tests.conftest import Factory

        self.client = app.test_client()
        make = Factory(app)
        self.headers = {"Authorization": f"Bearer {make.token(make.user('officer'))}"}
        self.doc = self.client.get("/api/v1/openapi.json").get_json()
        self.n = 0
        self.created: dict[str, list[int]] = {}
        self.filled: dict[str, set[str]] = {}

    def text_fields(self, path: str, method: str = "post") -> dict[str, dict]:
        op = self.doc["paths"].get(path, {}).get(method)
        if not op or "requestBody" not in op:
            return {}
        schema = next(iter(op["requestBody"]["content"].values()))["schema"]
        fields = {}
        for name, prop in schema.get("properties", {}).items():
            types = prop.get("type")
            types = types if isinstance(types, list) else [types]
            if "string" in types and "enum" not in prop and "format" not in prop:
                fields[name] = prop
            elif "array" in types and prop.get("items", {}).get("type") == "string" and "enum" not in prop["items"]:
                fields[name] = prop
        return fields

    def value(self, payload: str, prop: dict):
        self.n += 1
        text = f"{payload}~{self.n}"
        if prop.get("maxLength") and len(text) > prop["maxLength"]:
            return None
        return [text] if prop.get("type") == "array" else text

    def create(self, register: str, path: str, base: dict, payload: str, *, expect=(200, 201)) -> int | None:
        """POST base + every text field set to the payload; fields a validator refuses fall back to base."""
        fields = self.text_fields(_template_path(self.doc, path))
        body = dict(base)
        filled = set()
        for name, prop in fields.items():
            if name in NOT_TEXT.get(path, ()):
                continue
            value = self.value(payload, prop)
            if value is not None:
                body[name] = value
                filled.add(name)
        for _ in range(6):
            resp = self.client.post(path, json=body, headers=self.headers)
            if resp.status_code in expect:
                self.created.setdefault(register, []).append(resp.get_json().get("id"))
                self.filled.setdefault(register, set()).update(filled)
                return resp.get_json().get("id")
            refused = set((resp.get_json() or {}).get("error", {}).get("details", {})) & filled
            if resp.status_code != 422 or not refused:
                raise AssertionError(f"{path}: {resp.status_code} {resp.get_data(as_text=True)[:400]}")
            for name in refused:
                filled.discard(name)
                if name in base:
                    body[name] = base[name]
                else:
                    body.pop(name, None)
        raise AssertionError(f"{path}: could not create with {body}")


def _template_path(doc: dict, path: str) -> str:
    """The documented path template that a concrete path matches (/api/v1/people/3/trainings -> {person_id})."""
    for template in doc["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    return path


@pytest.fixture(scope="module")
def hostile_data(live_app):
    s = Seeder(live_app)
    d = lambda days: (today + timedelta(days=days)).isoformat()  # noqa: E731
    ids: dict[str, list] = {}
    for k, p in enumerate(PAYLOADS):
        person = s.create("people", "/api/v1/people", {
            "name": "x", "employee_no": f"XSS{k}", "nationality": "CN", "category": "core", "status": "active",
            "commitment_signed_on": d(-30), "commitment_expires_on": d(300)}, p)
        room = s.create("rooms", "/api/v1/rooms", {"code": f"XSS-{k}", "name": "x", "level": "internal",
                                                   "foreign_policy": "open"}, p)
        asset = s.create("assets", "/api/v1/assets", {"kind": "media", "subtype": "paper", "level": "internal",
                                                      "title": "x", "room_id": room, "custodian_id": person}, p)
        computer = s.create("assets", "/api/v1/assets", {"kind": "equipment", "subtype": "other",
                                                         "level": "internal", "title": "x", "foreign_supplied": True}, p)
        s.create("inspections", f"/api/v1/assets/{computer}/inspections", {"date": d(-1), "inspector": "x",
                                                                          "result": "passed"}, p)
        project = s.create("projects", "/api/v1/projects", {"name": "x", "partner": "x", "partner_country": "DE",
                                                            "review_status": "passed", "reviewed_by": person,
                                                            "reviewed_on": d(-5)}, p)
        visitor = s.create("visitors", "/api/v1/visitors", {
            "name": "x", "nationality": "CN", "id_doc_type": "passport", "id_doc_no": f"XSSDOC{k}",
            "arrives_on": d(-1), "departs_on": d(5), "project_id": project, "host_id": person}, p)
        s.create("provisions", "/api/v1/provisions", {
            "project_id": project, "material": "x", "level": "internal", "recipient": "x",
            "recipient_country": "DE", "purpose": "x", "legal_basis": "x", "reviewer_id": person,
            "reviewed_on": d(-2), "review_outcome": "passed", "treatment": "technical", "treated_on": d(-1),
            "agreement_signed_on": d(-1)}, p)
        s.create("trainings", f"/api/v1/people/{person}/trainings", {"date": d(-3), "course": "x", "hours": 2}, p)
        s.create("reminders", f"/api/v1/people/{person}/reminders", {"date": d(-2), "occasion": "trip"}, p)
        s.create("permissions", f"/api/v1/visitors/{visitor}/permissions", {
            "room_id": room, "valid_from": f"{d(-1)}T00:00:00+00:00", "valid_until": f"{d(3)}T00:00:00+00:00",
            "escort_required": False}, p)
        s.create("checkouts", f"/api/v1/assets/{asset}/checkout", {"borrower_id": person, "purpose": "x"}, p)
        s.create("visits", "/api/v1/visits", {"visitor_id": visitor, "room_id": room}, p)
        s.create("approvals", "/api/v1/approvals", {"kind": "checkout", "asset_id": asset, "borrower_id": person,
                                                    "purpose": "x"}, p)
        ids.setdefault("assets", []).append(asset)
        ids.setdefault("rooms", []).append(room)
        ids.setdefault("people", []).append(person)
    inventory = s.create("inventories", "/api/v1/inventories", {}, PAYLOADS[0])
    for k, p in enumerate(PAYLOADS):  # unknown label codes are listed on the inventory's page
        s.client.post(f"/api/v1/inventories/{inventory}/scans", json={"code": f"{p}{k}", "room_id": ids["rooms"][0]},
                      headers=s.headers)
    with live_app.app_context():
        db.session.remove()
    return {"seeder": s, **ids}


# ------------------------------------------------------------------ crawling

def _links(html: str, base: str) -> list[str]:
    out = []
    for href in re.findall(r"""<a\b[^>]*\bhref=["']([^"'#]+)""", html, re.IGNORECASE):
        href = href.replace("&amp;", "&")
        url = urljoin(base, href)
        out.append(url)
    return out


def _skip(path: str) -> bool:
    return (path.startswith(("/static/", "/registers/jobs", "/labels/")) or path.endswith((".xlsx", ".png", ".svg",
                                                                                            ".css"))
            or path in ("/logout",))


def _check_html(url: str, html: str) -> list[str]:
    problems = [f"{url}: raw {danger!r}" for danger in RAW_DANGER if danger in html]
    problems += [f"{url}: javascript: URL {m.group(0)!r}" for m in JS_URL.finditer(html)]
    return problems


def _crawl(page, origin: str, extra: list[str]) -> dict[str, str]:
    pages: dict[str, str] = {}
    per_path: dict[str, int] = {}
    queue = deque([origin + "/", *[origin + e for e in extra]])
    seen = set()
    while queue and len(pages) < MAX_PAGES:
        url = queue.popleft()
        parts = urlsplit(url)
        if parts.netloc != urlsplit(origin).netloc or url in seen or _skip(parts.path):
            continue
        seen.add(url)
        forced = url.startswith(tuple(origin + e for e in extra))
        if not forced and parts.query:
            if per_path.get(parts.path, 0) >= MAX_PER_PATH:
                continue
        per_path[parts.path] = per_path.get(parts.path, 0) + 1
        resp = page.request.get(url, max_redirects=0)
        assert resp.status < 500, f"{url}: {resp.status}"
        if "text/html" not in resp.headers.get("content-type", ""):
            continue
        html = resp.text()
        pages[url] = html
        if resp.status == 200:
            queue.extend(_links(html, url))
    return pages


@pytest.mark.slow
def test_no_stored_or_reflected_script_anywhere(page, live_app, live_user, hostile_data):
    origin = live_app.live_url
    admin = live_user("admin")
    sign_in(page, admin)
    assets = "&".join(f"asset_ids={i}" for i in hostile_data["assets"])
    rooms = "&".join(f"room_ids={i}" for i in hostile_data["rooms"])
    extra = [f"/print/labels?{assets}&{rooms}", f"/print/labels?geometry=custom&w=60&h=40&{assets}"]
    for p in PAYLOADS:  # reflected: search boxes, filters, sort keys and unknown paths echo input
        for path in ("/people/", "/items/", "/rooms/", "/visitors", "/projects", "/provisions/", "/checkouts/",
                     "/audit", "/security-events", "/visits", "/permissions", "/approvals/"):
            extra.append(f"{path}?q={_q(p)}&sort={_q(p)}&status={_q(p)}&kind={_q(p)}&action={_q(p)}")
        extra += [f"/nowhere/{_q(p)}", f"/s/{_q(p)}", f"/scan?code={_q(p)}", f"/login?next={_q(p)}"]
    pages = _crawl(page, origin, extra)
    assert len(pages) > 60, sorted(pages)

    problems = [p for url, html in pages.items() for p in _check_html(url, html)]
    assert not problems, problems[:20]
    everything = "\n".join(pages.values())
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in everything  # the stored values are really shown
    assert "ssti{{7*7}}" in everything
    assert "javascript:alert(1)" in everything
    shown = {reg for reg, fields in hostile_data["seeder"].filled.items() if fields}
    assert {"people", "rooms", "assets", "visitors", "projects", "provisions"} <= shown

    # every page that shows a stored value, in the real browser: no dialog, no CSP violation
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(f"{page.url}: {d.message}"), d.dismiss()))
    marked = [url for url, html in pages.items() if "~" in html and ("alert(1)" in html or "ssti{{" in html)]
    assert len(marked) > 20, len(marked)
    by_shape: dict[tuple, list[str]] = {}
    for url in sorted(marked):
        parts = urlsplit(url)
        by_shape.setdefault((re.sub(r"/\d+", "/{n}", parts.path), bool(parts.query)), []).append(url)

    def score(url):  # prefer pages that show both payloads that could run
        html = pages[url]
        return ("onerror=alert(1)" in html) + ("alert(1)&lt;/script&gt;" in html)

    marked = [url for urls in by_shape.values() for url in sorted(urls, key=score, reverse=True)[:BROWSER_PER_ROUTE]]
    for url in marked:
        page.goto(url)
        page.wait_for_load_state("load")
        _dom_is_clean(page)
        assert "ssti49" not in page.content(), url
    assert not dialogs, dialogs


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _dom_is_clean(page) -> None:
    """No element that an injection would have created: inline scripts, inline handlers, js: URLs."""
    assert page.locator("script:not([src])").count() == 0, page.url
    assert page.locator("[onerror], [onload], [onclick], [onmouseover]").count() == 0, page.url
    assert page.eval_on_selector_all(
        "[href^='javascript:' i], [src^='javascript:' i], [action^='javascript:' i]", "els => els.length") == 0, page.url


@pytest.mark.slow
def test_flash_form_and_error_pages_escape_input(page, live_app, live_user, hostile_data):
    """Flashes that name a hostile record, forms that re-show what was typed, and error pages."""
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    def after(action) -> str:
        """Run a navigating action; check the server's HTML and the resulting DOM; return the HTML."""
        with page.expect_navigation() as nav:
            action()
        html = nav.value.text()
        assert not _check_html(page.url, html), _check_html(page.url, html)
        _dom_is_clean(page)
        assert not dialogs, dialogs
        return html

    # a failed sign-in with a hostile user name and next=
    after(lambda: page.goto(f"/login?next={_q(PAYLOADS[1])}"))
    page.fill("input[name=username]", PAYLOADS[1])
    page.fill("input[name=password]", "not the password at all")
    after(lambda: page.click("button[type=submit]"))

    sign_in(page, live_user("officer"))
    s = hostile_data["seeder"]
    asset = s.client.post("/api/v1/assets", headers=s.headers, json={
        "kind": "media", "subtype": "paper", "level": "internal", "title": PAYLOADS[0]}).get_json()["id"]
    borrower = hostile_data["people"][0]  # its name is the <script> payload
    # check out at the desk: the flash names the hostile borrower
    after(lambda: page.goto(f"/items/{asset}/act"))
    page.select_option("#checkout-form select[name=borrower_id]", str(borrower))
    page.fill("#checkout-form input[name=purpose]", PAYLOADS[1])
    html = after(lambda: page.click("#checkout-form button[type=submit]"))
    assert 'class="flash' in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # check in with a hostile note; the item's history shows it
    page.fill("#checkin-form textarea[name=note]", PAYLOADS[1])
    after(lambda: page.click("#checkin-form button[type=submit]"))
    assert "onerror=alert(1)" in after(lambda: page.goto(f"/items/{asset}"))
    # a refused form (no employee number) comes back with the hostile input in its field
    after(lambda: page.goto("/people/new"))
    page.fill("input[name=name]", PAYLOADS[1])
    page.fill("input[name=employee_no]", "")
    page.locator("input[name=employee_no]").evaluate("el => el.removeAttribute('required')")
    after(lambda: page.locator("input[name=name]").press("Enter"))
    assert page.locator("input[name=name]").input_value() == PAYLOADS[1]
    # error pages
    for path in (f"/items/{2**31 + 5}", f"/nowhere/{_q(PAYLOADS[0])}", f"/s/{_q(PAYLOADS[1])}"):
        after(lambda: page.goto(path))
