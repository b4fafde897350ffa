"""`audit verify` is a read (issue 8): it never holds the write lock, so checkouts commit while it runs.

Before, the CLI (which assumes writes) and the audit page's POST verified inside a BEGIN IMMEDIATE
transaction and held the SQLite write lock for the whole chain (minutes at millions of events).
Each test stops the verification in the middle of the chain and makes a checkout through a second
application on the same database (another gunicorn worker, in its own thread) with a short busy
timeout: the checkout must commit at once, and the verification must still pass.
"""

from __future__ import annotations

import threading

import pytest

from registry import create_app
from registry.core import audit
from registry.extensions import db
from tests.conftest import base_config


@pytest.fixture
def worker2(app):
    """A second application (another worker) on the same database; gives up on a lock after 0.5 s."""
    other = create_app(base_config(SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                                   SQLITE_BUSY_TIMEOUT_MS=500))
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def checkout_midway(app, make, monkeypatch, worker2):
    """Patch the chain hash so that, at the first event verified, a checkout runs in another thread
    (and the verification waits for it)."""
    from registry.auth import services as auth

    borrower = make.person()
    officer_id = make.user("officer")
    with app.app_context():
        from tests.assets import helpers as h

        asset_id = h.asset(level="confidential").id
        for i in range(30):
            audit.record(db.session, actor=None, action="test.event", entity_type="things", entity_id=i)
        officer = auth.get_user(db.session, officer_id)
        token = auth.create_token(db.session, officer, actor=officer, name="worker2")
        db.session.commit()
    seen = {}
    real_hash, real_verify = audit.chain_hash, audit.verify
    main = threading.current_thread()

    def checkout():
        client = worker2.test_client()
        resp = client.post(f"/api/v1/assets/{asset_id}/checkout", json={"borrower_id": borrower, "purpose": "verify"},
                           headers={"Authorization": f"Bearer {token}"})
        seen["status"] = resp.status_code
        seen["body"] = resp.get_json()

    def hooked(prev, payload):
        if seen.get("armed") and threading.current_thread() is main and "started" not in seen:
            seen["started"] = True
            conn = db.session.connection()
            seen["verify_write_locked"] = bool(conn.info.get("write_locked"))
            t = threading.Thread(target=checkout)
            t.start()
            t.join(30)
        return real_hash(prev, payload)

    def verify(*args, **kwargs):
        seen["armed"] = True  # only the verification's own hashing stops for the checkout
        return real_verify(*args, **kwargs)

    monkeypatch.setattr(audit, "chain_hash", hooked)
    monkeypatch.setattr(audit, "verify", verify)
    return seen


def _check(seen):
    assert seen.get("started"), "the verification never reached the hook"
    assert seen["verify_write_locked"] is False
    assert seen["status"] == 201, seen.get("body")


def test_cli_verify_does_not_block_a_checkout(app, runner, checkout_midway):
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok:")
    _check(checkout_midway)


def test_api_verify_does_not_block_a_checkout(app, api, checkout_midway):
    resp = api("officer").get("/api/v1/audit/verify")
    assert resp.status_code == 200 and resp.get_json()["ok"] is True
    _check(checkout_midway)


def test_page_verify_does_not_block_a_checkout(app, as_role, checkout_midway):
    """The audit page verifies behind a POST, whose transaction began with BEGIN IMMEDIATE."""
    resp = as_role("officer").post("/audit/verify", data={"checkpoint": ""})
    assert resp.status_code == 200
    _check(checkout_midway)


def test_broken_chain_is_still_recorded_after_a_read_verification(app, runner):
    """The read transaction does not stop the CLI from recording the broken chain (a write)."""
    import sqlalchemy as sa

    from registry.core.security_events import SecurityEvent

    with app.app_context():
        for i in range(3):
            audit.record(db.session, actor=None, action="test.event", entity_type="things", entity_id=i)
        db.session.commit()
    result = runner.invoke(args=["audit", "verify", "--checkpoint", "2:" + "0" * 64])
    assert result.exit_code == 1
    with app.app_context():
        kinds = db.session.scalars(sa.select(SecurityEvent.kind)).all()
    assert "audit_chain_broken" in kinds
