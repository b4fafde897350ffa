"""The person picker (issue 8): with more candidates than PICKER_MAX_OPTIONS a person field is a search
box (+ the chosen id under the field's usual name) fed by /people/lookup instead of a <select> of every
person; without JavaScript the server resolves a typed employee number within the same candidate set.

The threshold is lowered to 2 here so that the picker path runs with a handful of people."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from registry.extensions import db
from tests.assets import helpers as h

EN = {"Accept-Language": "en"}


@pytest.fixture
def app_config():
    return {"PICKER_MAX_OPTIONS": 2}


@pytest.fixture
def people(app):
    """Three active people (two called Wang Fang), one who left, one foreign national; an internal item."""
    with app.app_context():
        out = {"alice": h.person(name="Alice Zhang", employee_no="E1001"),
               "wang1": h.person(name="Wang Fang", employee_no="E2001"),
               "wang2": h.person(name="Wang Fang", employee_no="E2002"),
               "left": h.person(name="Alice Left", employee_no="E3001", status="left"),
               "foreign": h.person(name="Alice Foreign", employee_no="E4001", nationality="DE")}
        item = h.asset(level="internal")
        db.session.commit()
        ids = {k: p.id for k, p in out.items()}
        ids["item"] = item.id
    return ids


def _lookup(client, q, scope="active", **params):
    resp = client.get("/people/lookup", query_string={"q": q, "scope": scope, **params})
    return resp.status_code, (json.loads(resp.data)["items"] if resp.status_code == 200 else None)


def _open_checkout_borrower(app, asset_id):
    from registry.assets.models import Checkout

    with app.app_context():
        return db.session.scalar(sa.select(Checkout.borrower_id).where(Checkout.asset_id == asset_id,
                                                                      Checkout.returned_at.is_(None)))


# ------------------------------------------------------------------ rendering

def test_few_candidates_keep_the_select(app, as_role, people):
    app.config["PICKER_MAX_OPTIONS"] = 300
    html = as_role("officer").get(f"/items/{people['item']}/act", headers=EN).get_data(as_text=True)
    assert '<select id="borrower_id" name="borrower_id" required data-autofocus>' in html
    assert f'<option value="{people["alice"]}">Alice Zhang (E1001)</option>' in html
    assert f'value="{people["left"]}"' not in html  # active people only, as before
    assert "borrower_id_q" not in html


def test_many_candidates_give_a_search_box(app, as_role, people):
    html = as_role("officer").get(f"/items/{people['item']}/act", headers=EN).get_data(as_text=True)
    assert '<select id="borrower_id"' not in html and "Alice Zhang" not in html
    box = re.search(r'<span class="picker" data-picker="([^"]+)"[^>]*>(.*?)</span>', html, re.S)
    assert box, html[:3000]
    assert box.group(1) == "/people/lookup?scope=active"
    assert re.search(r'<input type="search" id="borrower_id" name="borrower_id_q" value=""', box.group(2))
    assert 'autocomplete="off"' in box.group(2) and 'role="combobox"' in box.group(2) and "required" in box.group(2)
    assert '<input type="hidden" name="borrower_id" value="" data-picker-id>' in box.group(2)
    assert '<label for="borrower_id">Borrower' in html
    assert "js/picker.js" in html and "style=" not in html


@pytest.mark.parametrize("url,name", [("/items/", "custodian_id"), ("/checkouts/", "borrower_id"),
                                      ("/desk/checkout", "borrower_id"), ("/approvals/new?kind=checkout", "borrower_id"),
                                      ("/visitors/new", "host_id"), ("/destructions/new", "witness_2")])
def test_other_pages_use_the_picker(app, as_role, people, url, name):
    html = as_role("officer").get(url, headers=EN).get_data(as_text=True)
    assert f'name="{name}_q"' in html and f'<input type="hidden" name="{name}"' in html
    assert "Wang Fang (E2001)" not in html


def test_room_page_and_admin_user_form(app, as_role, make, people):
    room_id = make.room()
    html = as_role("officer").get(f"/rooms/{room_id}", headers=EN).get_data(as_text=True)
    assert 'name="person_id_q"' in html and "Wang Fang (E2001)" not in html
    html = as_role("inspector").get(f"/rooms/{room_id}", headers=EN).get_data(as_text=True)
    assert 'name="person_id_q"' not in html  # only officers add people to the access list
    html = as_role("admin").get("/admin/users/new", headers=EN).get_data(as_text=True)
    assert 'name="person_id_q"' in html and 'data-picker="/people/lookup?scope=all"' in html


def test_staff_learn_nothing_about_people(app, as_role, people):
    """Staff do not read the people register: no custodian picker, no lookup, and a typed number in
    their self-service forms is not resolved (no oracle of who exists)."""
    staff = as_role("staff", person_id=people["alice"])
    html = staff.get("/items/", headers=EN).get_data(as_text=True)
    assert 'name="custodian_id_q"' not in html
    assert staff.get("/people/lookup?q=Alice&scope=all").status_code == 403
    for typed in ("E9999", "E2001"):
        resp = staff.post(f"/items/{people['item']}/checkout", headers=EN,
                          data={"borrower_id_q": typed, "purpose": "reading"})
        assert "No one who can be chosen here" not in resp.get_data(as_text=True)
    assert _open_checkout_borrower(app, people["item"]) in (None, people["alice"])  # never someone else


# ------------------------------------------------------------------ lookup

def test_lookup_matches_name_and_number_among_the_candidates(app, as_role, people):
    officer = as_role("officer")
    status, items = _lookup(officer, "alice")
    assert status == 200
    labels = [i["label"] for i in items]
    assert "Alice Zhang (E1001)" in labels and "Alice Foreign (E4001)" in labels
    assert "Alice Left (E3001)" not in labels  # not active: the select did not offer her either
    assert {i["id"] for i in items} <= {people["alice"], people["foreign"]}
    _status, items = _lookup(officer, "e200")
    assert [i["id"] for i in items] == sorted([people["wang1"], people["wang2"]])
    _status, items = _lookup(officer, "E2002")  # an exact number comes first
    assert items[0] == {"id": people["wang2"], "label": "Wang Fang (E2002)"}
    _status, items = _lookup(officer, "Alice", scope="all")  # filters and user accounts: everyone
    assert "Alice Left (E3001)" in [i["label"] for i in items]
    assert _lookup(officer, "")[1] == [] and _lookup(officer, "%")[1] == []  # wildcards are literal


def test_lookup_is_capped(app, as_role, people):
    with app.app_context():
        for n in range(25):
            h.person(name=f"Zhou {n:02d}", employee_no=f"Z{n:04d}")
        db.session.commit()
    _status, items = _lookup(as_role("officer"), "Zhou")
    assert len(items) == 20 and items[0]["label"] == "Zhou 00 (Z0000)"


def test_lookup_roles(app, as_role, client, people):
    assert _lookup(as_role("guard"), "Alice")[0] == 403             # guards pick escorts only
    assert _lookup(as_role("guard"), "Alice", scope="escort")[0] == 200
    assert _lookup(as_role("approver"), "Alice")[0] == 200
    assert _lookup(as_role("inspector"), "Alice", scope="all")[0] == 200
    assert _lookup(as_role("inspector"), "Alice", scope="escort")[0] == 403
    assert _lookup(as_role("staff"), "Alice")[0] == 403
    assert _lookup(as_role("officer"), "Alice", scope="nope")[0] == 404
    assert client.get("/people/lookup?q=Alice").status_code in (302, 401)


def test_escort_lookup_follows_the_escort_rule(app, as_role, make, people):
    """Escorts: active home nationals, plus the active people on the room's access list (as the select)."""
    from registry.areas import services as areas
    from registry.people.models import Person

    room_id = make.room()
    guard = as_role("guard")
    ids = {i["id"] for i in _lookup(guard, "Alice", scope="escort", room_id=room_id)[1]}
    assert ids == {people["alice"]}  # not the foreign national, not the one who left
    with app.app_context():
        from registry.areas.models import Room

        areas.grant_access(db.session, db.session.get(Room, room_id), db.session.get(Person, people["foreign"]),
                           actor=None)
        db.session.commit()
    ids = {i["id"] for i in _lookup(guard, "Alice", scope="escort", room_id=room_id)[1]}
    assert ids == {people["alice"], people["foreign"]}
    with app.app_context():
        from registry.visits.models import Visitor  # noqa: F401  (the escort scope is registered by visits)
        from registry.visits.services import escort_choices

        listed, others = escort_choices(db.session, db.session.get(Room, room_id))
        offered = {p.id for p in listed} | {p.id for p in others}
    assert ids <= offered and people["foreign"] in offered and people["left"] not in offered


# ------------------------------------------------------------------ posting

@pytest.mark.parametrize("typed", ["E1001", " e1001 ", "Alice Zhang (E1001)", "Alice Zhang"])
def test_checkout_with_a_typed_number(app, as_role, people, typed):
    resp = as_role("officer").post(f"/items/{people['item']}/checkout",
                                   data={"borrower_id": "", "borrower_id_q": typed, "purpose": "audit"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    assert _open_checkout_borrower(app, people["item"]) == people["alice"]


def test_checkout_with_the_chosen_id(app, as_role, people):
    resp = as_role("officer").post(f"/items/{people['item']}/checkout",
                                   data={"borrower_id": people["wang2"], "borrower_id_q": "Wang Fang (E2002)",
                                         "purpose": "audit"})
    assert resp.status_code == 302
    assert _open_checkout_borrower(app, people["item"]) == people["wang2"]


@pytest.mark.parametrize("typed,message", [
    ("E9999", "No one who can be chosen here has the employee number E9999."),
    ("E3001", "No one who can be chosen here has the employee number E3001."),  # left: not a candidate
    ("Wang Fang", "Several people are called Wang Fang: type the employee number."),
])
def test_checkout_with_an_unknown_or_ambiguous_text(app, as_role, people, typed, message):
    resp = as_role("officer").post(f"/items/{people['item']}/checkout", headers=EN,
                                   data={"borrower_id": "", "borrower_id_q": typed, "purpose": "audit"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert f'<small class="field-error">{message}</small>' in html
    assert "This field is required" not in html and "Not a valid integer" not in html
    assert f'name="borrower_id_q" value="{typed}"' in html  # what was typed stays in the box
    assert _open_checkout_borrower(app, people["item"]) is None


def test_checkout_with_nothing_is_still_required(app, as_role, people):
    resp = as_role("officer").post(f"/items/{people['item']}/checkout", headers=EN,
                                   data={"borrower_id": "", "borrower_id_q": "", "purpose": "audit"})
    assert resp.status_code == 422 and "This field is required" in resp.get_data(as_text=True)


def test_refused_checkout_shows_the_chosen_person(app, as_role, people):
    with app.app_context():
        secret = h.asset(level="top_secret")
        db.session.commit()
        secret_id = secret.id
    resp = as_role("officer").post(f"/items/{secret_id}/checkout", headers=EN,
                                   data={"borrower_id": "", "borrower_id_q": "E1001", "purpose": "audit"})
    assert resp.status_code >= 400
    assert 'name="borrower_id_q" value="Alice Zhang (E1001)"' in resp.get_data(as_text=True)
    assert f'<input type="hidden" name="borrower_id" value="{people["alice"]}"' in resp.get_data(as_text=True)


def test_filters_take_a_typed_number(app, as_role, people):
    from registry.assets import services
    from registry.people.models import Person

    with app.app_context():
        item = db.session.get(services.Asset, people["item"])
        services.checkout(db.session, item, db.session.get(Person, people["wang1"]), actor=None, purpose="x")
        other = h.asset(level="internal", title="Other item")
        services.checkout(db.session, other, db.session.get(Person, people["alice"]), actor=None, purpose="y")
        db.session.commit()
    officer = as_role("officer")
    html = officer.get("/checkouts/?borrower_id_q=E2001", headers=EN).get_data(as_text=True)
    assert "E2001" in html and ">Other item<" not in html and "1 records" in html
    html = officer.get("/checkouts/?borrower_id_q=nobody", headers=EN).get_data(as_text=True)
    assert "No one who can be chosen here has the employee number nobody." in html


def test_access_list_grant_with_a_typed_number(app, as_role, make, people):
    from registry.areas.models import RoomAccess

    room_id = make.room()
    officer = as_role("officer")
    resp = officer.post(f"/rooms/{room_id}/access", data={"person_id": "", "person_id_q": "E1001"})
    assert resp.status_code == 302
    resp = officer.post(f"/rooms/{room_id}/access", data={"person_id": "", "person_id_q": "E3001"})
    html = officer.get(resp.headers["Location"], headers=EN).get_data(as_text=True)
    assert "No one who can be chosen here has the employee number E3001." in html
    with app.app_context():
        listed = db.session.scalars(sa.select(RoomAccess.person_id).where(RoomAccess.room_id == room_id)).all()
    assert listed == [people["alice"]]


def test_admin_links_a_user_by_number(app, as_role, people):
    from registry.auth.models import User

    admin = as_role("admin")
    data = {"role": "staff", "password": "a long enough passphrase 42", "person_id": ""}
    resp = admin.post("/admin/users/new", headers=EN, data={**data, "username": "linked1", "person_id_q": "E3001"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]  # anyone, also someone who left
    resp = admin.post("/admin/users/new", headers=EN, data={**data, "username": "linked2", "person_id_q": "E0000"})
    assert ('<small class="field-error">No one who can be chosen here has the employee number E0000.</small>'
            in resp.get_data(as_text=True))
    with app.app_context():
        rows = db.session.execute(sa.select(User.username, User.person_id).where(User.username.like("linked%"))).all()
    assert rows == [("linked1", people["left"])]


# ------------------------------------------------------------------ the guard station's escort

def test_guard_escort_picker(app, make, as_role, people):
    from tests.visits import scenarios

    ids = scenarios.build(app, make, scenarios.escorted_with_everything)
    guard = as_role("guard")
    html = guard.get(f"/guard?visitor={ids['visitor_id']}&room={ids['room_id']}", headers=EN).get_data(as_text=True)
    assert 'name="escort_id_q"' in html and '<select name="escort_id"' not in html
    assert f'data-picker="/people/lookup?scope=escort&amp;room_id={ids["room_id"]}"' in html
    form = {"visitor_id": ids["visitor_id"], "room_id": ids["room_id"], "escort_id": "",
            "device_phone": "deposited"}
    resp = guard.post("/guard/enter", headers=EN, data={**form, "escort_id_q": "E4001"})  # foreign: not an escort
    assert resp.status_code == 422
    assert "No one who can be chosen here has the employee number E4001." in resp.get_data(as_text=True)
    resp = guard.post("/guard/enter", headers=EN, data={**form, "escort_id_q": ids["escort_no"]})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    from registry.visits.models import Visit

    with app.app_context():
        assert db.session.scalar(sa.select(Visit.escort_id).where(Visit.visitor_id == ids["visitor_id"])) \
            == ids["escort_id"]


# ------------------------------------------------------------------ the helpers

def test_picker_switches_at_the_threshold(app, ctx, people):
    from registry.core.pages import PeoplePicker, resolve_person

    app.config["PICKER_MAX_OPTIONS"] = 4  # 4 active people (alice, wang1, wang2, foreign)
    picker = PeoplePicker(db.session, "active")
    assert not picker.search and [label for _id, label in picker][0] == "Alice Foreign (E4001)"
    assert PeoplePicker(db.session, "all").search  # 5 people
    assert resolve_person(db.session, "E2002") == people["wang2"]
    with pytest.raises(ValueError):
        resolve_person(db.session, "E3001")  # not active
    assert resolve_person(db.session, "E3001", "all") == people["left"]


# ------------------------------------------------------------------ the item form (custodian + need-to-know)

def _item(app, registry_no):
    from registry.assets.models import Asset

    with app.app_context():
        a = db.session.scalar(sa.select(Asset).where(Asset.registry_no == registry_no))
        return None if a is None else (a.id, a.custodian_id, sorted(a.scope["person_ids"]))


ITEM = {"kind": "media", "subtype": "paper", "title": "Picker form item", "level": "internal"}


def test_item_form_has_no_list_of_every_person(app, as_role, people):
    html = as_role("officer").get("/items/new", headers=EN).get_data(as_text=True)
    assert "Wang Fang (E2001)" not in html and "Alice Zhang" not in html
    assert 'name="custodian_id_q"' in html and '<input type="hidden" name="custodian_id"' in html
    assert re.search(r'<span class="picker picker-multi" data-picker="/people/lookup\?scope=active" '
                     r'data-picker-multi="scope_person_ids"', html)
    assert 'name="scope_person_ids_q"' in html and "<select id=\"scope_person_ids\"" not in html
    app.config["PICKER_MAX_OPTIONS"] = 300      # few people: the selects as before
    html = as_role("officer").get("/items/new", headers=EN).get_data(as_text=True)
    assert '<select id="scope_person_ids" name="scope_person_ids" multiple' in html
    assert f'<option value="{people["wang1"]}">Wang Fang (E2001)</option>' in html


def test_item_form_takes_typed_numbers_for_custodian_and_scope(app, as_role, people):
    officer = as_role("officer")
    resp = officer.post("/items/new", headers=EN, data={**ITEM, "registry_no": "PK-1", "custodian_id": "",
                                                        "custodian_id_q": "E1001",
                                                        "scope_person_ids_q": "E2001， Wang Fang (E2002); e1001"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    _id, custodian, scope = _item(app, "PK-1")
    assert custodian == people["alice"]
    assert scope == sorted([people["wang1"], people["wang2"], people["alice"]])


def test_item_form_refuses_an_unknown_or_departed_person_and_keeps_the_rest(app, as_role, people):
    officer = as_role("officer")
    for typed in ("E9999", "E3001"):            # unknown; left the unit
        resp = officer.post("/items/new", headers=EN, data={**ITEM, "registry_no": "PK-2",
                                                            "scope_person_ids": str(people["alice"]),
                                                            "scope_person_ids_q": f"E2001, {typed}"})
        html = resp.get_data(as_text=True)
        assert resp.status_code == 422
        assert f"No one who can be chosen here has the employee number {typed}." in html
        assert f'value="E2001, {typed}"' in html                          # what was typed stays
        assert re.search(rf'<input type="checkbox" name="scope_person_ids" value="{people["alice"]}" checked>'
                         r'\s*Alice Zhang \(E1001\)', html)              # what was chosen stays
        assert _item(app, "PK-2") is None                                # nothing written


def test_item_edit_shows_the_chosen_people_and_unticking_removes_them(app, as_role, people):
    officer = as_role("officer")
    resp = officer.post("/items/new", headers=EN, data={**ITEM, "registry_no": "PK-3",
                                                        "scope_person_ids": [str(people["alice"]), str(people["wang1"])]})
    assert resp.status_code == 302
    item_id, _c, scope = _item(app, "PK-3")
    assert scope == sorted([people["alice"], people["wang1"]])
    html = officer.get(f"/items/{item_id}/edit", headers=EN).get_data(as_text=True)
    chips = re.findall(r'<input type="checkbox" name="scope_person_ids" value="(\d+)" checked>\s*([^<]+)</label>', html)
    assert chips == [(str(people["alice"]), "Alice Zhang (E1001)"), (str(people["wang1"]), "Wang Fang (E2001)")]
    resp = officer.post(f"/items/{item_id}/edit", headers=EN,
                        data={**ITEM, "scope_person_ids": str(people["wang1"])})   # Alice unticked
    assert resp.status_code == 302
    assert _item(app, "PK-3")[2] == [people["wang1"]]
