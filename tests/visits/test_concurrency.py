"""Concurrency against real gunicorn workers: one visitor cannot be entered into two rooms at
once (the partial unique index on open visits), and an escort's group cannot overflow when two
guards let visitors in at the same instant. Runs on a real SQLite file, and on PostgreSQL when
TEST_DATABASE_URL is set (the `db_url` fixture points at it)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from registry.extensions import db
from tests.conftest import SECRET

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
VISITORS, ROOMS = 6, 4        # each visitor into four rooms at the same instant
ESCORTS, GROUP = 4, 4         # four visitors at once with one escort whose group holds one


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(db_url: str, tmp_path: Path):
    """gunicorn with several sync workers over the test database; killed (its process group) afterwards."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_") and k != "TEST_DATABASE_URL"}
    env.update({"DATABASE_URL": db_url, "SECRET_KEY": SECRET, "REGISTRY_INSTANCE_PATH": str(tmp_path / "gunicorn"),
                "REGISTRY_RATELIMIT_ENABLED": "false", "REGISTRY_BASE_URL": "https://registry.example.test"})
    log = open(tmp_path / "gunicorn.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--bind",
                             f"127.0.0.1:{port}", "--timeout", "60", "app:create_app()"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def _fire(url, tokens, bodies):
    """POST all bodies to /api/v1/visits at the same instant (one thread and one guard's token each:
    a shared token would serialise the requests on its own row); [(status, code)]."""
    barrier = threading.Barrier(len(bodies))
    results = [None] * len(bodies)

    def run(i, body):
        session = requests.Session()
        barrier.wait()
        resp = session.post(url + "/api/v1/visits", json=body, headers={"Authorization": f"Bearer {tokens[i]}"},
                            timeout=60)
        code = resp.json()["error"]["code"] if resp.status_code >= 400 else None
        results[i] = (resp.status_code, code)

    threads = [threading.Thread(target=run, args=(i, b)) for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return results


def test_concurrent_entries(app, make, db_url, tmp_path):
    from registry.core.models import utcnow
    from registry.visits import services

    rooms = [make.room(foreign_policy="open", level="internal") for _ in range(ROOMS)]
    group_room = make.room(foreign_policy="escorted", level="internal", max_visitors_per_escort=1)
    racers = [make.visitor() for _ in range(VISITORS)]
    groups = [([make.visitor(nationality="CN", id_doc_type="national_id") for _ in range(GROUP)],
               make.person(category="core")) for _ in range(ESCORTS)]
    with app.app_context():
        from registry.areas.models import Room

        window = {"valid_from": utcnow() - timedelta(hours=1), "valid_until": utcnow() + timedelta(hours=4)}
        room = db.session.get(Room, group_room)
        for members, _escort in groups:
            for vid in members:
                services.grant_permission(db.session, services.get_visitor(db.session, vid), room, window, actor=None)
        db.session.commit()
        db.session.close()

    racing = [{"visitor_id": vid, "room_id": rid} for vid in racers for rid in rooms]
    grouped = [{"visitor_id": vid, "room_id": group_room, "escort_id": escort} for members, escort in groups
               for vid in members]
    tokens = [make.token(make.user("guard")) for _ in range(max(len(racing), len(grouped)))]
    with gunicorn(db_url, tmp_path) as url:
        results = _fire(url, tokens, racing) + _fire(url, tokens, grouped)

    chunks = [results[i * ROOMS:(i + 1) * ROOMS] for i in range(VISITORS)]
    for chunk in chunks:  # exactly one entry per visitor; the others: 409 already_inside
        assert sorted(chunk, key=str) == sorted([(201, None)] + [(409, "already_inside")] * (ROOMS - 1), key=str)
    offset = VISITORS * ROOMS
    for g in range(ESCORTS):  # exactly one visitor per escort; the others: 403 escort_group_full
        chunk = results[offset + g * GROUP:offset + (g + 1) * GROUP]
        assert sorted(chunk, key=str) == sorted([(201, None)] + [(403, "escort_group_full")] * (GROUP - 1), key=str)

    with app.app_context():
        from registry.core import audit
        from registry.core.security_events import SecurityEvent
        from registry.visits.models import Visit

        open_per_visitor = dict(db.session.execute(
            sa.select(Visit.visitor_id, sa.func.count(Visit.id)).where(Visit.exited_at.is_(None))
            .group_by(Visit.visitor_id)).all())
        assert all(open_per_visitor.get(v) == 1 for v in racers)
        per_escort = dict(db.session.execute(
            sa.select(Visit.escort_id, sa.func.count(Visit.id)).where(Visit.room_id == group_room)
            .group_by(Visit.escort_id)).all())
        assert per_escort == {escort: 1 for _m, escort in groups}
        reasons = db.session.scalars(sa.select(SecurityEvent.reason).where(SecurityEvent.kind == "entry_denied")).all()
        assert sorted(reasons) == sorted(["already_inside"] * VISITORS * (ROOMS - 1)
                                         + ["escort_group_full"] * ESCORTS * (GROUP - 1))
        assert audit.verify(db.session).ok  # the chain did not fork under several workers
