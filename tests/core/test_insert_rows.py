"""core.db.insert_rows: COPY on PostgreSQL, executemany elsewhere — either way what the ORM's own
INSERT stores, with the column types' conversions applied."""

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from registry.core.db import insert_rows
from registry.core.security_events import SecurityEvent
from registry.extensions import db

TABLE = SecurityEvent.__table__
CST = timezone(timedelta(hours=8))


def _row(i, **extra):
    row = {"at": datetime(2026, 11, 28, 9, 30, i, 250000, tzinfo=CST), "kind": "bulk.test", "reason": None,
           "actor_id": i, "actor": f"用户 \"{i}\"\t\\", "subject_type": None, "subject_id": None,
           "subject": "a\nb" if i % 2 else None, "details": {"z": [1, "二"], "a": None, "i": i} if i % 3 else None,
           "ip": "10.0.0.1"}
    row.update(extra)
    return row


def _stored(kind):
    cols = [c for c in TABLE.c if c.key != "id"]
    return db.session.execute(sa.select(*[sa.cast(c, sa.Text) if c.key == "at" else c for c in cols])
                              .where(TABLE.c.kind == kind).order_by(TABLE.c.actor_id)).all()


def test_stores_what_an_insert_stores(ctx):
    rows = [_row(i) for i in range(7)]
    db.session.execute(TABLE.insert(), [dict(r, kind="orm.insert") for r in rows])
    insert_rows(db.session, TABLE, [dict(r, kind="bulk.copy") for r in rows])
    db.session.commit()
    orm, bulk = _stored("orm.insert"), _stored("bulk.copy")
    assert len(bulk) == 7
    assert [r[:1] + r[2:] for r in bulk] == [r[:1] + r[2:] for r in orm]
    event = db.session.scalars(sa.select(SecurityEvent).where(SecurityEvent.kind == "bulk.copy",
                                                               SecurityEvent.actor_id == 1)).one()
    assert event.at == datetime(2026, 11, 28, 1, 30, 1, 250000, tzinfo=timezone.utc)  # the same instant, UTC
    assert event.details == {"a": None, "i": 1, "z": [1, "二"]} and event.subject == "a\nb"
    raw = db.session.scalar(sa.text("SELECT details FROM security_events WHERE kind = 'bulk.copy' AND actor_id = 1"))
    assert raw == '{"a":null,"i":1,"z":[1,"二"]}'  # JSONText's canonical form: the type's conversion ran


def test_the_column_types_still_refuse_what_they_refuse(ctx):
    with pytest.raises((ValueError, sa.exc.StatementError), match="naive datetime"):  # SQLAlchemy wraps it
        insert_rows(db.session, TABLE, [_row(1, at=datetime(2026, 11, 28, 9, 30))])
    db.session.rollback()


def test_every_row_needs_every_key_and_python_defaults_are_not_skipped(ctx):
    with pytest.raises((KeyError, sa.exc.StatementError)):  # no silent NULL on either database
        insert_rows(db.session, TABLE, [_row(1), {k: v for k, v in _row(2).items() if k != "ip"}])
    db.session.rollback()
    without_at = {k: v for k, v in _row(3).items() if k != "at"}
    if db.engine.dialect.name == "postgresql":  # COPY would leave out the Python-side default (utcnow)
        with pytest.raises(ValueError, match="no value for at"):
            insert_rows(db.session, TABLE, [without_at])
        db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TABLE).where(TABLE.c.kind == "bulk.test")) == 0


def test_nothing_to_insert(ctx):
    """No rows: no statement at all (not even an INSERT with an empty parameter list)."""
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    db.session.connection()  # the session's own set-up statements happen before counting
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        insert_rows(db.session, TABLE, [])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    assert statements == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TABLE)) == 0
