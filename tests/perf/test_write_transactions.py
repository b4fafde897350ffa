"""A checkout or checkin is one write transaction (issue 8): the response is built before the commit,
so that nothing reads the expired records afterwards and opens a second transaction — on SQLite a
second BEGIN IMMEDIATE, i.e. the write lock taken twice per request."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa

from registry.extensions import db
from tests.assets import helpers as h


@contextlib.contextmanager
def transactions(app):
    with app.app_context():
        engine = db.engine
    begun, statements = [], []

    def on_begin(conn):
        begun.append(1)

    def on_statement(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(engine, "begin", on_begin)
    sa.event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield begun, statements
    finally:
        sa.event.remove(engine, "begin", on_begin)
        sa.event.remove(engine, "before_cursor_execute", on_statement)


def _item_and_borrower(app):
    with app.app_context():
        b = h.person()
        a = h.asset(level="confidential")
        db.session.commit()
        return a.id, b.id


def _write_locks(statements):
    return sum(1 for s in statements if s.strip().upper() == "BEGIN IMMEDIATE")


def test_api_checkout_and_checkin_are_one_transaction_each(app, api):
    aid, bid = _item_and_borrower(app)
    officer = api("officer")
    with transactions(app) as (begun, statements):
        resp = officer.post(f"/api/v1/assets/{aid}/checkout", json={"borrower_id": bid, "purpose": "review"})
    assert resp.status_code == 201 and resp.get_json()["returned_at"] is None
    assert len(begun) == 1, statements
    assert _write_locks(statements) in (0, 1)      # 1 on SQLite; PostgreSQL sends no BEGIN statement
    assert len(statements) <= 11, statements
    with transactions(app) as (begun, statements):
        resp = officer.post(f"/api/v1/assets/{aid}/checkin", json={"condition": "intact"})
    body = resp.get_json()
    assert resp.status_code == 200 and body["returned_at"] and body["condition"] == "intact"  # the updated record
    assert len(begun) == 1, statements
    assert len(statements) <= 11, statements


def test_page_checkout_and_checkin_are_one_transaction_each(app, as_role):
    aid, bid = _item_and_borrower(app)
    officer = as_role("officer")
    with transactions(app) as (begun, statements):
        resp = officer.post(f"/items/{aid}/checkout", data={"borrower_id": bid, "purpose": "review"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/items/{aid}/act")
    assert len(begun) == 1, statements
    with transactions(app) as (begun, statements):
        resp = officer.post(f"/items/{aid}/checkin", data={"condition": "intact"})
    assert resp.status_code == 302
    assert len(begun) == 1, statements
    page = officer.get(f"/items/{aid}/act", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Checked in, intact." in page
