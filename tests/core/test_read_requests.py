"""Read requests on PostgreSQL run without a transaction (core.db.begin_request): no BEGIN and
ROLLBACK round trips for a scan. A write during a read request must say so (begin_write), and is
then one transaction; a write without it is refused, as SQLite refuses an audit append outside
BEGIN IMMEDIATE."""

import pytest
import sqlalchemy as sa
from flask import jsonify

from registry.core.db import begin_read, begin_write
from registry.core.security_events import SecurityEvent
from registry.extensions import db
from tests.conftest import PG_URL

pg_only = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set (PostgreSQL only; on SQLite the begin "
                                                 "event decides: tests/perf/test_write_transactions.py)")


def _event(kind):
    return SecurityEvent(kind=kind, actor="test", reason="r")


@pytest.fixture
def probe(app):
    """Test-only routes, added before the app's first request."""

    def mode():
        conn = db.session.connection()
        return jsonify(autocommit=conn.connection.driver_connection.autocommit
                       if conn.dialect.name == "postgresql" else None)

    def write_unannounced():
        db.session.add(_event("probe.unannounced"))
        db.session.commit()
        return "written"

    def write_announced():
        db.session.scalar(sa.select(sa.func.count(SecurityEvent.id)))  # a read first, as a page does
        begin_write(db.session)
        db.session.add(_event("probe.announced.1"))
        db.session.flush()
        db.session.add(_event("probe.announced.2"))
        db.session.flush()
        if app.config.get("PROBE_FAIL"):
            raise RuntimeError("after the flushes, before the commit")
        db.session.commit()
        return jsonify(autocommit=db.session.connection().connection.driver_connection.autocommit
                       if db.engine.dialect.name == "postgresql" else None)

    for name, view, methods in (("mode", mode, ["GET", "POST"]), ("unannounced", write_unannounced, ["GET"]),
                                ("announced", write_announced, ["GET"])):
        view.required_roles = ("public",)
        app.add_url_rule(f"/_probe/{name}", f"probe_{name}", view, methods=methods)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app.test_client()


def _count(app, kind_prefix):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(SecurityEvent.id))
                                 .where(SecurityEvent.kind.like(kind_prefix + "%")))


@pg_only
def test_a_read_request_runs_without_a_transaction_and_a_write_request_with_one(probe):
    assert probe.get("/_probe/mode").json == {"autocommit": True}
    assert probe.post("/_probe/mode").json == {"autocommit": False}


@pg_only
def test_a_write_in_a_read_request_without_begin_write_is_refused(app, probe):
    assert probe.get("/_probe/unannounced").status_code == 500
    assert _count(app, "probe.unannounced") == 0


def test_a_write_announced_with_begin_write_is_one_transaction(app, probe):
    resp = probe.get("/_probe/announced")
    assert resp.status_code == 200 and resp.json["autocommit"] in (False, None)
    assert _count(app, "probe.announced") == 2
    app.config["PROBE_FAIL"] = True
    assert probe.get("/_probe/announced").status_code == 500
    assert _count(app, "probe.announced") == 2  # both flushed rows of the failed request rolled back


def test_a_read_intent_left_outside_a_request_does_not_reach_the_next_request(app, probe):
    with app.app_context():
        begin_read(db.session)  # a CLI command or an export job sets the intent in this thread
        db.session.rollback()
    resp = probe.post("/_probe/mode")
    assert resp.status_code == 200
    assert resp.json["autocommit"] in (False, None)
