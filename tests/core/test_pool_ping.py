"""PostgreSQL: a pooled connection the server dropped is replaced before a request uses it when it has
been idle (core.db._ping_idle_connections); a connection used moments ago is not pinged, and a request
that meets a dropped one fails once, after which the pool reconnects."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.extensions import db
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set (PostgreSQL only)")


def _backend_pid(app) -> int:
    with app.app_context():
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        db.session.remove()
        return pid


def _terminate(pid: int) -> None:
    engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    engine.dispose()


@pytest.fixture
def app_config(request):
    return {"DB_PING_IDLE_SECONDS": request.param}


@pytest.mark.parametrize("app_config", [0], indirect=True)
def test_an_idle_connection_the_server_dropped_is_replaced(app, client):
    first = _backend_pid(app)
    assert _backend_pid(app) == first            # one pooled connection, reused
    _terminate(first)
    assert client.get("/healthz").status_code == 200   # pinged, found dead, replaced: the request never saw it
    assert _backend_pid(app) != first


@pytest.mark.parametrize("app_config", [3600], indirect=True)
def test_a_connection_used_moments_ago_is_not_pinged(app):
    first = _backend_pid(app)
    _terminate(first)
    with app.app_context():
        with pytest.raises(sa.exc.OperationalError):   # no ping: the dead connection is met once ...
            db.session.scalar(sa.text("SELECT 1"))
        db.session.remove()
    assert _backend_pid(app) != first              # ... and the pool reconnects for the next use


@pytest.mark.parametrize("app_config", [0], indirect=True)
def test_the_ping_leaves_no_transaction_open(app):
    """A pinged connection can still take its isolation level (begin_read: REPEATABLE READ for exports);
    a ping that left a transaction open made psycopg refuse it."""
    from registry.core.db import begin_read

    with app.app_context():
        begin_read(db.session)
        assert db.session.scalar(sa.text("SHOW transaction_isolation")) == "repeatable read"
        db.session.remove()
