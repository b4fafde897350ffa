#!/usr/bin/env python3
"""Server time of the dashboard and every register list page at full data (target <= 200 ms).

    .venv/bin/python bench/pages_bench.py --db /tmp/perf/full.sqlite --rounds 5
    .venv/bin/python bench/pages_bench.py --db /tmp/perf/full.sqlite --only /checkouts/ --profile

In-process (Flask test client: the whole Flask stack, no HTTP server), signed in with the bench
accounts of bench/generate.py. Pages run round-robin for --rounds rounds after one warm-up each;
per page: wall ms and CPU ms per request (median [min-max]) and SQL statements per request.
Wall ≈ server time on a quiet core; CPU ms is the noise-robust figure (wall ≫ CPU means the
process waited for a core, or for the disk). --profile prints a pyinstrument tree per page.

The pages with a person field (the item's action page after a scan, batch desk, guard station, room
access, visitor, destruction, approval and user forms) are measured too. Before/after the person picker
on the same code: `--picker-max-options 1000000` renders every person field as a <select> of every
candidate (as before), the default (300) as a search box at this size of data.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PASSWORD, fmt_range, log, make_app, med, normalise_url, table  # noqa: E402

PAGES = [
    ("/", "bench_officer"), ("/", "bench_admin"), ("/", "bench_staff"),
    ("/items/", "bench_officer"), ("/items/?kind=media", "bench_officer"), ("/items/?kind=computer", "bench_officer"),
    ("/items/?kind=storage", "bench_officer"), ("/items/?kind=equipment", "bench_officer"),
    ("/items/", "bench_staff"), ("/checkouts/", "bench_officer"), ("/checkouts/?open=1", "bench_officer"),
    ("/checkouts/?overdue=1", "bench_officer"), ("/people/", "bench_officer"), ("/people/commitments", "bench_officer"),
    ("/people/reminders", "bench_officer"), ("/people/trainings", "bench_officer"), ("/rooms/", "bench_officer"),
    ("/visitors", "bench_officer"), ("/visitors/blocked", "bench_officer"), ("/visits", "bench_officer"),
    ("/permissions", "bench_officer"), ("/approvals/", "bench_officer"), ("/audit", "bench_officer"),
    ("/security-events", "bench_officer"), ("/projects", "bench_officer"), ("/provisions/", "bench_officer"),
    ("/stocktake/inventories", "bench_officer"), ("/destructions/", "bench_officer"), ("/registers/", "bench_officer"),
    ("/guard/board", "bench_guard"), ("/guard", "bench_guard"), ("/admin/users", "bench_admin"),
    # pages with a person picker (issue 8: a select of every person): {placeholders} are filled from the database
    ("/items/{available}/act", "bench_officer"), ("/desk/checkout", "bench_officer"),
    ("/guard?visitor={visitor}&room={room}", "bench_guard"), ("/guard/room?room_id={room}", "bench_guard"),
    ("/rooms/{room}", "bench_officer"), ("/visitors/new", "bench_officer"), ("/projects/{project}", "bench_officer"),
    ("/provisions/{provision}", "bench_officer"), ("/destructions/new", "bench_officer"),
    ("/approvals/new?kind=checkout&asset_id={available}", "bench_officer"), ("/admin/users/new", "bench_admin"),
    ("/items/new", "bench_officer"), ("/items/{available}/edit", "bench_officer"),
]

PLACEHOLDERS = {  # one row of the generated data for each {name} in PAGES
    "available": "SELECT id FROM assets WHERE status = 'available' AND level = 'confidential' ORDER BY id LIMIT 1",
    "visitor": "SELECT id FROM visitors WHERE blocked = 0 ORDER BY id LIMIT 1",
    "room": "SELECT id FROM rooms WHERE active = 1 ORDER BY id LIMIT 1",
    "project": "SELECT id FROM cooperation_projects ORDER BY id LIMIT 1",
    "provision": "SELECT id FROM provisions ORDER BY id LIMIT 1",
}


def fill_placeholders(pages, db):
    """PAGES with {available}, {room}, ... replaced by ids from the database; pages whose row is missing are left out."""
    import sqlalchemy as sa

    values = {}
    with db.engine.connect() as conn:
        for name, sql in PLACEHOLDERS.items():
            try:
                values[name] = conn.execute(sa.text(sql)).scalar()
            except sa.exc.DBAPIError:
                values[name] = None
    out = []
    for path, user in pages:
        names = [n for n in PLACEHOLDERS if "{" + n + "}" in path]
        if all(values[n] is not None for n in names):
            out.append((path.format(**{n: values[n] for n in names}), user))
        else:
            log(f"skipped {path}: no row for {names}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="", help="comma list of URL substrings")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--target-ms", type=float, default=200)
    ap.add_argument("--picker-max-options", type=int, default=None,
                    help="PICKER_MAX_OPTIONS (default: the app's, 300); a huge value renders every person field as "
                         "a <select> of every candidate, as before the person picker")
    a = ap.parse_args(argv)
    import sqlalchemy as sa

    extra = {} if a.picker_max_options is None else {"PICKER_MAX_OPTIONS": a.picker_max_options}
    app = make_app(normalise_url(a.db), instance="/tmp/perf/pages_instance", WTF_CSRF_ENABLED=False, **extra)
    from registry.extensions import db

    pages = [p for p in PAGES if not a.only or any(k in p[0] for k in a.only.split(","))]
    with app.app_context():
        pages = fill_placeholders(pages, db)
    clients = {}
    for user in {u for _p, u in pages}:
        c = app.test_client()
        r = c.post("/login", data={"username": user, "password": PASSWORD})
        assert r.status_code == 302, (user, r.status_code)
        clients[user] = c
    with app.app_context():
        engine = db.engine
    counter = [0]

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _count(*_args):
        counter[0] += 1

    results = {p: [] for p in pages}
    for p in pages:  # warm-up
        clients[p[1]].get(p[0])
    for rnd in range(a.rounds):
        k = rnd % len(pages)
        for p in pages[k:] + pages[:k]:
            counter[0] = 0
            t0, c0 = time.perf_counter(), time.process_time()
            resp = clients[p[1]].get(p[0])
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            results[p].append((1000 * wall, 1000 * cpu, counter[0], resp.status_code, len(resp.data)))
    rows = []
    for p in pages:
        rs = results[p]
        wall = [r[0] for r in rs]
        ok = med(wall) <= a.target_ms
        rows.append([p[0], p[1].replace("bench_", ""), fmt_range(wall, ".0f"), fmt_range([r[1] for r in rs], ".0f"),
                     f"{med([r[2] for r in rs]):.0f}", rs[0][3], f"{rs[0][4] / 1024:.0f}", "met" if ok else "NOT MET"])
    print(f"\n### pages at full data, in-process, {a.rounds} rounds round-robin; median [min–max]")
    print(table(["page", "as", "server wall ms", "CPU ms", "SQL statements", "status", "KiB", f"≤ {a.target_ms:.0f} ms"],
                rows))
    if a.profile:
        from pyinstrument import Profiler

        for p in pages:
            prof = Profiler(interval=0.0005)
            prof.start()
            clients[p[1]].get(p[0])
            prof.stop()
            log(f"\n===== {p[0]} as {p[1]}")
            log(prof.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
