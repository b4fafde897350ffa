#!/usr/bin/env python3
"""Profile one request path in-process (Flask test client) with pyinstrument, and count its SQL.

    .venv/bin/python bench/profile_request.py --db /tmp/perf/full.sqlite --path /items/{id}/act -n 50
    .venv/bin/python bench/profile_request.py --db /tmp/perf/full.sqlite --path /api/v1/scan/{code} --bearer
    .venv/bin/python bench/profile_request.py --db COPY.sqlite --checkout --bearer -n 200

{id} and {code} are filled from random assets. --checkout profiles the API write path instead: requests
alternate POST /api/v1/assets/<id>/checkout and .../checkin (intact) over available, unscoped items up to
confidential with eligible borrowers (as bench/http_bench.py's write suite); it WRITES: use a copy of the
database, never /tmp/perf/*.sqlite itself. Prints time per request (wall, CPU), statements per
request, the slowest statements, and the pyinstrument tree (--html FILE to save it as HTML).
Needs pyinstrument (bench/requirements.txt).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PASSWORD, make_app, normalise_url  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--path", default="")
    ap.add_argument("--checkout", action="store_true", help="checkout+checkin pairs through the API (writes!)")
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--user", default="bench_officer")
    ap.add_argument("--bearer", action="store_true", help="use a bearer token instead of a cookie session")
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--html", default="")
    ap.add_argument("--show-sql", type=int, default=8)
    ap.add_argument("--show-all", action="store_true", help="pyinstrument: do not hide library frames")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="app configuration for the run, e.g. --set DASHBOARD_CACHE_SECONDS=30 (JSON values)")
    a = ap.parse_args(argv)
    if not a.path and not a.checkout:
        ap.error("--path or --checkout")
    if a.checkout:
        a.path = a.path or "/api/v1/assets/{id}/checkout|checkin"
    import sqlalchemy as sa

    url = normalise_url(a.db)
    import json

    extra = {k: json.loads(v) for k, _, v in (item.partition("=") for item in a.set)}
    app = make_app(url, instance="/tmp/perf/profile_instance", WTF_CSRF_ENABLED=False, **extra)
    from registry.extensions import db

    with app.app_context():
        rows = db.session.execute(sa.text("SELECT id, label_code FROM assets WHERE label_code IS NOT NULL "
                                          "ORDER BY id")).all()
        pairs = []
        if a.checkout:
            today = time.strftime("%Y-%m-%d")
            borrowers = [r[0] for r in db.session.execute(sa.text(
                "SELECT id FROM persons WHERE status = 'active' AND nationality = 'CN' AND category IN ('core', "
                "'important') AND commitment_signed_on IS NOT NULL AND (commitment_expires_on IS NULL OR "
                "commitment_expires_on > :d)"), {"d": today})]
            pool = [r[0] for r in db.session.execute(sa.text(
                "SELECT a.id FROM assets a WHERE a.status = 'available' AND a.level IN ('unclassified', 'internal', "
                "'confidential') AND NOT EXISTS (SELECT 1 FROM asset_scopes s WHERE s.asset_id = a.id)"))]
            rnd0 = random.Random(7)
            pairs = [(i, rnd0.choice(borrowers)) for i in rnd0.sample(pool, min(len(pool), 2000))]
        headers = {}
        if a.bearer:
            from registry.auth import services as auth
            from registry.auth.models import User

            user = db.session.scalar(sa.select(User).where(User.username == a.user))
            headers["Authorization"] = "Bearer " + auth.create_token(db.session, user, actor=user, name="profile")
            db.session.commit()
        db.session.remove()
    client = app.test_client()
    if not a.bearer:
        r = client.post("/login", data={"username": a.user, "password": PASSWORD})
        assert r.status_code == 302, r.data[:300]
    rnd = random.Random(3)
    stmts = Counter()
    durations = Counter()
    count = [0]
    with app.app_context():
        engine = db.engine

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, params, context, executemany):
        conn.info["t0"] = time.perf_counter()
        count[0] += 1

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, params, context, executemany):
        key = " ".join(statement.split())[:160]
        stmts[key] += 1
        durations[key] += time.perf_counter() - conn.info.get("t0", time.perf_counter())

    # SQLite: how long each transaction held the write lock (BEGIN IMMEDIATE until its COMMIT returned);
    # with one writer at a time, 1000 / (ms held) bounds the writes per second whatever the workers
    held: list[float] = []

    @sa.event.listens_for(engine, "begin")
    def _began(conn):
        conn.info["began_at"] = time.perf_counter()

    real_commit = engine.dialect.do_commit
    began_by_conn: dict[int, float] = {}

    def _commit(dbapi_conn):
        real_commit(dbapi_conn)
        began = began_by_conn.pop(id(dbapi_conn), None)
        if began is not None:
            held.append(time.perf_counter() - began)

    engine.dialect.do_commit = _commit

    @sa.event.listens_for(engine, "commit")
    def _committing(conn):
        if conn.info.get("write_locked") and "began_at" in conn.info:
            began_by_conn[id(conn.connection)] = conn.info["began_at"]

    state = {"n": 0}

    def one():
        if a.checkout:  # checkout, then checkin of the same item: every request must succeed
            k = state["n"]
            state["n"] += 1
            asset_id, borrower = pairs[(k // 2) % len(pairs)]
            if k % 2 == 0:
                return client.post(f"/api/v1/assets/{asset_id}/checkout", headers=headers,
                                   json={"borrower_id": borrower, "purpose": "profile"})
            return client.post(f"/api/v1/assets/{asset_id}/checkin", headers=headers, json={"condition": "intact"})
        i, code = rnd.choice(rows)
        path = a.path.replace("{id}", str(i)).replace("{code}", code)
        return client.get(path, headers=headers)

    for _ in range(4):  # warm-up
        one()
    stmts.clear()
    held.clear()
    durations.clear()
    count[0] = 0
    profiler = None
    if not a.no_profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    t0, c0 = time.perf_counter(), time.process_time()
    statuses = Counter()
    for _ in range(a.n):
        statuses[one().status_code] += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if profiler:
        profiler.stop()
    print(f"{a.path}: {a.n} requests, statuses {dict(statuses)}; wall {1000 * wall / a.n:.2f} ms/req, "
          f"CPU {1000 * cpu / a.n:.2f} ms/req, {count[0] / a.n:.1f} statements/req")
    if held and engine.dialect.name == "sqlite":
        held_ms = sorted(1000 * h for h in held)
        mid = held_ms[len(held_ms) // 2]
        print(f"  write lock held per committed transaction: median {mid:.2f} ms, p90 "
              f"{held_ms[int(len(held_ms) * 0.9)]:.2f} ms ({len(held_ms)} commits): at most {1000 / mid:.0f} "
              f"such transactions per second with one writer at a time")
    for key, t in durations.most_common(a.show_sql):
        print(f"  {1000 * t / a.n:8.2f} ms/req  x{stmts[key] / a.n:5.1f}  {key}")
    if profiler:
        if a.html:
            Path(a.html).write_text(profiler.output_html())
        print(profiler.output_text(unicode=True, color=False, show_all=a.show_all))


if __name__ == "__main__":
    main()
