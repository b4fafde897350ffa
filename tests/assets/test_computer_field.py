"""The connected computer of a storage checkout: a list in small units, a registry-number box above
PICKER_MAX_OPTIONS computers (issue 8: 15,000 computers made the action page 260 ms of CPU)."""

import pytest
import sqlalchemy as sa

from registry.assets.models import Checkout
from registry.extensions import db
from tests.assets import helpers as h

EN = {"Accept-Language": "en"}


@pytest.fixture
def app_config():
    return {"PICKER_MAX_OPTIONS": 2}


@pytest.fixture
def items(app):
    with app.app_context():
        b = h.person()
        usb = h.asset(kind="storage", level="confidential")
        pcs = [h.asset(kind="computer", level="confidential") for _ in range(3)]
        db.session.commit()
        return {"borrower": b.id, "usb": usb.id, "pc": pcs[1].id, "pc_no": pcs[1].registry_no}


def test_many_computers_ask_for_the_registry_number(app, as_role, items):
    officer = as_role("officer")
    html = officer.get(f"/items/{items['usb']}/act", headers=EN).get_data(as_text=True)
    assert 'name="device_id_no"' in html and '<select id="device_id"' not in html
    assert items["pc_no"] not in html  # no list of computers
    resp = officer.post(f"/items/{items['usb']}/checkout", data={
        "borrower_id": items["borrower"], "purpose": "copy results", "device_id_no": items["pc_no"].lower()})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    with app.app_context():
        assert db.session.scalar(sa.select(Checkout.device_id).where(Checkout.asset_id == items["usb"])) == items["pc"]


def test_unknown_computer_number_is_a_form_error_and_nothing_is_written(app, as_role, items):
    officer = as_role("officer")
    resp = officer.post(f"/items/{items['usb']}/checkout", headers=EN, data={
        "borrower_id": items["borrower"], "purpose": "copy results", "device_id_no": "JSJ-NOPE-1"})
    assert resp.status_code == 422
    assert "No computer has the registry number JSJ-NOPE-1" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Checkout.id)).where(Checkout.asset_id == items["usb"])) == 0


def test_few_computers_keep_the_list(app, as_role, items):
    app.config["PICKER_MAX_OPTIONS"] = 300
    html = as_role("officer").get(f"/items/{items['usb']}/act", headers=EN).get_data(as_text=True)
    assert '<select id="device_id"' in html and items["pc_no"] in html
