"""Backup under load holds every acknowledged write; restore validates before touching anything."""

import os
import sqlite3
import threading

import pytest
import sqlalchemy as sa

from registry.core import audit
from registry.extensions import db
from registry.people.models import Person

pytestmark = pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                                reason="SQLite backup/restore; PostgreSQL uses pg_dump/pg_restore")


def _count(path, table="persons"):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_backup_during_writes_holds_everything_acknowledged(app, runner, make, tmp_path):
    for i in range(20):
        make.person(employee_no=f"B{i}")
    stop = threading.Event()
    written = []

    def writer():
        n = 0
        while not stop.is_set() and n < 200:
            make.person(employee_no=f"L{n}")
            written.append(n)
            n += 1

    t = threading.Thread(target=writer)
    t.start()
    while len(written) < 5:
        pass
    acknowledged_before = 20 + len(written)
    out = tmp_path / "backup.sqlite"
    result = runner.invoke(args=["backup", "--out", str(out)])
    stop.set()
    t.join()
    assert result.exit_code == 0, result.output
    assert "sha256" in result.output
    assert not os.path.exists(str(out) + "-wal")
    conn = sqlite3.connect(out)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert _count(out) >= acknowledged_before
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(audit.AuditEvent.action == "backup.create")) == 1


def test_restore_roundtrip(app, runner, make, tmp_path):
    make.person(employee_no="KEEP")
    out = tmp_path / "b.sqlite"
    assert runner.invoke(args=["backup", "--out", str(out)]).exit_code == 0
    make.person(employee_no="LATER")
    result = runner.invoke(args=["restore", str(out), "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        db.session.remove()
        nos = set(db.session.scalars(sa.select(Person.employee_no)))
        assert "KEEP" in nos and "LATER" not in nos
        assert audit.verify(db.session).ok
        assert db.session.scalar(sa.select(audit.AuditEvent.action).order_by(audit.AuditEvent.seq.desc()).limit(1)) \
            == "backup.restore"


def _live_persons(app):
    with app.app_context():
        db.session.remove()
        return set(db.session.scalars(sa.select(Person.employee_no)))


@pytest.mark.parametrize("damage", ["random", "truncated", "text", "wrong_schema", "chain_broken", "empty"])
def test_restore_refuses_bad_files_and_changes_nothing(app, runner, make, tmp_path, damage):
    make.person(employee_no="LIVE1")
    good = tmp_path / "good.sqlite"
    assert runner.invoke(args=["backup", "--out", str(good)]).exit_code == 0
    bad = tmp_path / f"{damage}.sqlite"
    data = good.read_bytes()
    if damage == "random":
        bad.write_bytes(os.urandom(len(data)))
    elif damage == "truncated":
        bad.write_bytes(data[: len(data) // 3])
    elif damage == "text":
        bad.write_text("id,name\n1,x\n")
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        bad.write_bytes(data)
        conn = sqlite3.connect(bad)
        if damage == "wrong_schema":
            conn.execute("UPDATE alembic_version SET version_num = 'ffff_future'")
        else:
            conn.execute("DROP TRIGGER audit_events_no_update")
            conn.execute("UPDATE audit_events SET actor = 'mallory' WHERE seq = 1")
        conn.commit()
        conn.close()
    make.person(employee_no="LIVE2")
    before = _live_persons(app)
    result = runner.invoke(args=["restore", str(bad), "--yes"])
    assert result.exit_code != 0
    assert "refused" in result.output
    assert _live_persons(app) == before
