"""Exactly one open checkout per item under real concurrency: 4 gunicorn workers, 20 simultaneous
checkouts of one item over HTTP. Exactly one 201, nineteen 409 asset_unavailable, nothing else;
on SQLite (a file, WAL, BEGIN IMMEDIATE) and on PostgreSQL (when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import SECRET, base_config

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
PG_URL = os.environ.get("TEST_DATABASE_URL")
N = 20

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_race_url() -> str:
    """A database of this test's own next to TEST_DATABASE_URL's (created fresh)."""
    base = sa.engine.make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)
                              if PG_URL.startswith("postgresql://") else PG_URL)
    name = f"{base.database}_race"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _prepare(url: str, instance: Path) -> dict:
    """Schema (create_all + append-only triggers), an officer with N tokens, a borrower, one item."""
    from registry import create_app
    from registry.core.audit import install_append_only_triggers
    from registry.extensions import db
    from tests.assets import helpers as h

    os.environ["REGISTRY_INSTANCE_PATH"] = str(instance)
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        import registry.models_all  # noqa: F401
        from registry.auth import services as accounts

        db.create_all()
        with db.engine.begin() as conn:
            install_append_only_triggers(conn)
        officers = [h.user("officer") for _ in range(4)]
        tokens = [accounts.create_token(db.session, officers[i % 4], actor=None) for i in range(N)]
        borrower = h.person(category="important")
        item = h.asset(level="confidential")
        db.session.commit()
        out = {"tokens": tokens, "borrower_id": borrower.id, "asset_id": item.id}
        db.session.remove()
        db.engine.dispose()
    return out


def _serve(url: str, instance: Path, port: int):
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=SECRET, REGISTRY_INSTANCE_PATH=str(instance),
               REGISTRY_RATELIMIT_ENABLED="false")
    log = instance / "gunicorn.log"
    with open(log, "wb") as fh:   # the child keeps its own descriptor
        proc = subprocess.Popen([str(GUNICORN), "-w", "4", "--bind", f"127.0.0.1:{port}", "--timeout", "60",
                                 "--log-level", "warning", "app:create_app()"], cwd=str(ROOT), env=env,
                                stdout=subprocess.DEVNULL, stderr=fh, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                if r.status == 200:
                    time.sleep(1.0)  # let every worker finish booting
                    return proc
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError(log.read_text(errors="replace")[-3000:])
    _stop(proc)
    raise RuntimeError("gunicorn did not start")


def _stop(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _race(port: int, data: dict) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(N)
    results: list = [None] * N
    body = json.dumps({"borrower_id": data["borrower_id"], "purpose": "race"}).encode()

    def fire(i):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/assets/{data['asset_id']}/checkout", data=body,
                                     method="POST", headers={"Authorization": f"Bearer {data['tokens'][i]}",
                                                             "Content-Type": "application/json"})
        barrier.wait()
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                results[i] = (r.status, json.loads(r.read()))
        except urllib.error.HTTPError as e:
            results[i] = (e.code, json.loads(e.read() or b"{}"))
        except Exception as e:  # connection errors count as failures
            results[i] = (0, {"exception": repr(e)})

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def _invariants(url: str, data: dict) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)
                              if url.startswith("postgresql://") else url)
    with engine.connect() as conn:
        open_ = conn.execute(sa.text("SELECT count(*) FROM checkouts WHERE asset_id = :a AND returned_at IS NULL"),
                             {"a": data["asset_id"]}).scalar()
        doubles = conn.execute(sa.text("SELECT count(*) FROM (SELECT asset_id FROM checkouts WHERE returned_at IS NULL "
                                       "GROUP BY asset_id HAVING count(*) > 1) d")).scalar()
        status = conn.execute(sa.text("SELECT status FROM assets WHERE id = :a"), {"a": data["asset_id"]}).scalar()
        refusals = conn.execute(sa.text("SELECT count(*) FROM security_events WHERE reason = 'asset_unavailable'")).scalar()
        seqs = [r[0] for r in conn.execute(sa.text("SELECT seq FROM audit_events ORDER BY seq"))]
    engine.dispose()
    assert (open_, doubles, status) == (1, 0, "checked_out")
    assert refusals == N - 1
    assert seqs == list(range(1, len(seqs) + 1))   # the audit chain never forked


def _run(url: str, tmp_path: Path) -> list[int]:
    instance = tmp_path / "instance"
    data = _prepare(url, instance)
    port = _free_port()
    proc = _serve(url, instance, port)
    try:
        results = _race(port, data)
    finally:
        _stop(proc)
    statuses = sorted(r[0] for r in results)
    assert statuses.count(201) == 1, results
    assert statuses.count(409) == N - 1, results
    assert all(r[1]["error"]["code"] == "asset_unavailable" for r in results if r[0] == 409)
    _invariants(url, data)
    from registry import create_app
    from registry.core.audit import verify
    from registry.extensions import db

    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    with app.app_context():
        assert verify(db.session).ok
        db.session.remove()
        db.engine.dispose()
    return statuses


def test_race_sqlite(tmp_path):
    statuses = _run(f"sqlite:///{tmp_path / 'race.sqlite'}", tmp_path)
    assert statuses.count(201) == 1 and len(statuses) == N


@pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL not set")
def test_race_postgresql(tmp_path):
    statuses = _run(_pg_race_url(), tmp_path)
    assert statuses.count(201) == 1 and len(statuses) == N
