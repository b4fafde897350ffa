#!/usr/bin/env python3
"""Checkout-log export: registry.exports (our builder) side by side with a raw xlsxwriter writer.

    .venv/bin/python bench/export_bench.py --rows 100000 --rounds 3
    .venv/bin/python bench/export_bench.py --rows 1000000 --rounds 1 --db /tmp/exports-1m.sqlite

1. Generates N checkouts in a SQLite file built from the models (create_all), with bulk inserts
   (Core executemany, one transaction per 20,000 rows) that keep the invariants: N/20 assets,
   each checked out ~20 times one after the other (never overlapping), due_at >= out_at, every
   returned checkout has a condition, at most one open checkout per asset and an asset is
   `checked_out` iff it has one; borrowers are active, cleared for the level, with a valid
   commitment letter. An existing --db with the same row count is reused.
2. Runs, alternately (A B, B A, A B …), each in a fresh child process:
   A  `registry.exports.jobs.export_now` of the `checkouts` register: the real export path
      (SQLAlchemy Core select with yield_per, the column converters — enum labels, unit time
      zone, overdue flag —, formula-safe write_cell for every cell, title block, page setup,
      SHA-256 and the audit event);
   B  the floor: sqlite3 cursor over the same join, xlsxwriter constant_memory, one format per
      column, write_string/write_number/write_datetime per cell, bold header, freeze, filter.
   Both write the same 22 columns.
3. Prints wall and CPU seconds, peak RSS of each child (os.wait4 rusage), the CPU seconds from the
   export call on (the builder's child first creates the app, ~1.2 s, which a web process has paid
   long before) and the A/B ratios of the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-export-secret-key-7d1f3a5c9e2b4d6f8a0c2e4b6d8f0a1c"
UTC = timezone.utc
COLUMNS = 22
LEVELS = ["internal", "confidential", "secret"]


def make_app(db_path: str, instance: str):
    os.environ["REGISTRY_INSTANCE_PATH"] = instance
    from registry import create_app

    return create_app({"TESTING": True, "SECRET_KEY": SECRET, "RATELIMIT_ENABLED": False,
                       "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}"})


# ---------------------------------------------------------------- data

def generate(db_path: str, rows: int, instance: str) -> None:
    import sqlalchemy as sa

    from registry.areas.models import Room
    from registry.assets.models import Asset, Checkout
    from registry.auth.models import User
    from registry.core.audit import install_append_only_triggers
    from registry.extensions import db
    from registry.people.models import Person

    app = make_app(db_path, instance)
    t0 = time.perf_counter()
    with app.app_context():
        import registry.models_all  # noqa: F401

        db.create_all()
        with db.engine.begin() as conn:
            install_append_only_triggers(conn)
        now = datetime.now(UTC).replace(microsecond=0)
        n_people, n_assets = max(10, rows // 200), max(1, rows // 20)
        with db.engine.begin() as conn:
            conn.execute(sa.insert(User), [{"username": "bench_officer", "password_hash": "!", "role": "officer"}])
            conn.execute(sa.insert(Room), [{"code": f"R-{i:03d}", "name": f"机要室 {i}", "level": "secret",
                                            "foreign_policy": "forbidden", "location": "A栋"} for i in range(10)])
            conn.execute(sa.insert(Person), [{
                "name": f"借用人{i}", "employee_no": f"B{i:06d}", "department": f"第{i % 12}研究室",
                "position": "工程师", "nationality": "CN", "category": "important", "status": "active",
                "commitment_signed_on": (now - timedelta(days=3000)).date(),
                "commitment_expires_on": (now + timedelta(days=3650)).date()} for i in range(n_people)])
        per_asset = -(-rows // n_assets)
        open_assets = {a for a in range(n_assets) if a % 10 == 0}  # 10 % of the items are out now
        start = now - timedelta(days=per_asset * 7 + 30)
        assets = []
        for a in range(n_assets):
            kind = ("media", "storage", "computer", "equipment")[a % 4]
            assets.append({"registry_no": f"ZT-2026-{a:06d}", "kind": kind,
                           "subtype": {"media": "paper", "storage": "usb_flash", "computer": "desktop",
                                       "equipment": "printer"}[kind],
                           "title": f"涉密文件资料 第{a}号 关于某型号设备的技术方案", "level": LEVELS[a % 3],
                           "status": "available", "room_id": 1 + a % 10, "custodian_id": 1 + a % n_people,
                           "registered_on": start.date()})
        with db.engine.begin() as conn:
            for i in range(0, len(assets), 20000):
                conn.execute(sa.insert(Asset), assets[i:i + 20000])
        batch, made = [], 0
        with db.engine.connect() as conn:
            for k in range(per_asset):
                for a in range(n_assets):
                    if made >= rows:
                        break
                    out_at = start + timedelta(days=7 * k, hours=a % 9, minutes=a % 60)
                    last = k == per_asset - 1 or made + n_assets >= rows
                    is_open = last and a in open_assets
                    level = LEVELS[a % 3]
                    due = out_at + timedelta(days={"internal": 30, "confidential": 7, "secret": 3}[level])
                    row = {"asset_id": a + 1, "borrower_id": 1 + (a * 7 + k) % n_people, "out_at": out_at,
                           "due_at": due, "handled_by": 1, "self_service": False,
                           "purpose": "查阅资料，编写技术报告" if k % 2 else "=SUM(A1:A9) 外来公式样例",
                           "returned_at": None if is_open else out_at + timedelta(days=2),
                           "received_by": None if is_open else 1, "condition": None if is_open else "intact",
                           "note": "" if k % 5 else "封条完好"}
                    batch.append(row)
                    made += 1
                    if len(batch) == 20000:
                        with conn.begin():
                            conn.execute(sa.insert(Checkout), batch)
                        batch = []
            if batch:
                with conn.begin():
                    conn.execute(sa.insert(Checkout), batch)
            with conn.begin():
                conn.execute(sa.update(Asset).where(Asset.id.in_(
                    sa.select(Checkout.asset_id).where(Checkout.returned_at.is_(None)))).values(status="checked_out"))
            bad = conn.execute(sa.text(
                "SELECT (SELECT count(*) FROM (SELECT asset_id FROM checkouts WHERE returned_at IS NULL "
                "GROUP BY asset_id HAVING count(*) > 1)) + (SELECT count(*) FROM assets a WHERE "
                "(a.status = 'checked_out') <> EXISTS (SELECT 1 FROM checkouts c WHERE c.asset_id = a.id "
                "AND c.returned_at IS NULL))")).scalar()
            assert bad == 0, "invariants broken"
        db.engine.dispose()
    print(f"generated {rows} checkouts, {n_assets} assets, {n_people} people in {time.perf_counter() - t0:.1f} s",
          flush=True)


def count_rows(db_path: str) -> int:
    import sqlite3

    try:
        with sqlite3.connect(db_path) as con:
            return con.execute("SELECT count(*) FROM checkouts").fetchone()[0]
    except sqlite3.Error:
        return -1


# ---------------------------------------------------------------- the two writers (children)

def child_builder(db_path: str, out: str, instance: str) -> dict:
    from registry.exports import jobs
    from registry.extensions import db

    app = make_app(db_path, instance)
    c0 = time.process_time()  # a web process created its app long before the export
    with app.app_context():
        req = jobs.ExportRequest(target="checkouts", lang="zh_CN")
        result = jobs.export_now(db.session, req, Path(out).parent)
        os.replace(result.path, out)
        return {"rows": result.rows, "export_cpu": time.process_time() - c0}


RAW_SQL = """
SELECT c.id, a.registry_no, a.title, a.kind, a.level, b.name, b.employee_no, b.department, c.purpose,
       c.out_at, c.due_at, h.username, c.self_service, c.approval_id, d.registry_no, d.level, c.returned_at,
       c.condition, r.username, c.note
FROM checkouts c JOIN assets a ON a.id = c.asset_id JOIN persons b ON b.id = c.borrower_id
LEFT JOIN users h ON h.id = c.handled_by LEFT JOIN users r ON r.id = c.received_by
LEFT JOIN assets d ON d.id = c.device_id
ORDER BY c.out_at, c.id
"""


def child_raw(db_path: str, out: str) -> dict:
    """The floor: no ORM, no converters beyond parsing the timestamps, one call per cell."""
    import sqlite3

    import xlsxwriter

    c0 = time.process_time()
    wb = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_formulas": False,
                                   "strings_to_urls": False})
    ws = wb.add_worksheet("checkouts")
    bold = wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1})
    text = wb.add_format({"border": 1})
    num = wb.add_format({"border": 1, "num_format": "0"})
    stamp = wb.add_format({"border": 1, "num_format": "yyyy-mm-dd hh:mm"})
    kinds = ["n", "n", "s", "s", "s", "s", "s", "s", "s", "s", "d", "d", "s", "s", "n", "s", "s", "d", "s", "s",
             "s", "s"]
    for c in range(COLUMNS):
        ws.set_column(c, c, 14)
        ws.write_string(0, c, f"col{c}", bold)
    ws.freeze_panes(1, 0)
    con = sqlite3.connect(db_path)
    cur = con.execute(RAW_SQL)
    r = 0
    parse = datetime.fromisoformat
    while True:
        chunk = cur.fetchmany(2000)
        if not chunk:
            break
        for row in chunk:
            r += 1
            values = [r, *row[:12], row[12], row[13], row[14], row[15], row[16], row[17], row[18],
                      row[16] is None, row[19]]
            for c, v in enumerate(values):
                if v is None:
                    continue
                k = kinds[c]
                if k == "d":
                    ws.write_datetime(r, c, parse(v) if isinstance(v, str) else v, stamp)
                elif k == "n" and isinstance(v, (int, float)):
                    ws.write_number(r, c, v, num)
                else:
                    ws.write_string(r, c, str(v), text)
    ws.autofilter(0, 0, r, COLUMNS - 1)
    wb.close()
    con.close()
    return {"rows": r, "export_cpu": time.process_time() - c0}


def run_child(kind: str, db_path: str, out: str, instance: str) -> dict:
    args = [sys.executable, __file__, "--child", kind, "--db", db_path, "--out", out, "--instance", instance]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    output = proc.stdout.read()
    proc.stdout.close()
    if status != 0:
        raise SystemExit(f"{kind} child failed ({status}): {output}")
    info = json.loads(output.strip().splitlines()[-1])
    return {"kind": kind, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "rss_mib": usage.ru_maxrss / 1024, "mb": os.path.getsize(out) / 1e6, "rows": info["rows"],
            "export_cpu": info["export_cpu"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--db", help="SQLite file (generated when missing or of another size)")
    p.add_argument("--out", help="(child) output file")
    p.add_argument("--instance", help="(child) instance folder")
    p.add_argument("--child", choices=["builder", "raw", "generate"])
    a = p.parse_args()
    if a.child == "generate":
        generate(a.db, a.rows, a.instance)
        return
    if a.child:
        info = child_builder(a.db, a.out, a.instance) if a.child == "builder" else child_raw(a.db, a.out)
        print(json.dumps(info))
        return
    work = Path(tempfile.mkdtemp(prefix="export-bench-"))
    db_path = a.db or str(work / f"checkouts-{a.rows}.sqlite")
    instance = str(work / "instance")
    if count_rows(db_path) != a.rows:
        for suffix in ("", "-wal", "-shm"):
            Path(db_path + suffix).unlink(missing_ok=True)
        # in a child: the parent stays small, because Linux keeps a process's peak RSS across exec and
        # the children's figures would otherwise start from the parent's
        subprocess.run([sys.executable, __file__, "--child", "generate", "--rows", str(a.rows), "--db", db_path,
                        "--instance", instance], check=True)
    order = ["builder", "raw"]
    results = {"builder": [], "raw": []}
    for rnd in range(a.rounds):
        for kind in (order if rnd % 2 == 0 else order[::-1]):
            res = run_child(kind, db_path, str(work / f"{kind}.xlsx"), instance)
            results[kind].append(res)
            print(f"round {rnd + 1} {kind:8} wall {res['wall']:7.1f} s  cpu {res['cpu']:7.1f} s  "
                  f"export cpu {res['export_cpu']:7.1f} s  "
                  f"peak RSS {res['rss_mib']:6.1f} MiB  file {res['mb']:6.1f} MB  rows {res['rows']}", flush=True)
    print(f"\n{a.rows} checkout rows x {COLUMNS} columns, {a.rounds} rounds, medians [min-max]")
    print(f"{'writer':10} {'wall s':>22} {'cpu s':>22} {'export cpu s':>22} {'peak RSS MiB':>13} {'cpu ms/row':>11} "
          f"{'file MB':>8}")
    med, cpu, exp = {}, {}, {}
    for kind, runs in results.items():
        walls = [r["wall"] for r in runs]
        cpus = [r["cpu"] for r in runs]
        exps = [r["export_cpu"] for r in runs]
        med[kind], cpu[kind], exp[kind] = statistics.median(walls), statistics.median(cpus), statistics.median(exps)
        print(f"{kind:10} {med[kind]:9.1f} [{min(walls):.1f}-{max(walls):.1f}] "
              f"{cpu[kind]:9.1f} [{min(cpus):.1f}-{max(cpus):.1f}] "
              f"{exp[kind]:9.1f} [{min(exps):.1f}-{max(exps):.1f}] "
              f"{statistics.median(r['rss_mib'] for r in runs):13.1f} "
              f"{1000 * cpu[kind] / a.rows:11.3f} {statistics.median(r['mb'] for r in runs):8.1f}")
    print(f"ratio builder/raw: wall {med['builder'] / med['raw']:.2f}, cpu {cpu['builder'] / cpu['raw']:.2f} "
          f"(whole child process), export cpu {exp['builder'] / exp['raw']:.2f} (from the export call, after "
          f"create_app / imports: what a running web process spends)")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (2 cores)")
    print(f"(work folder {work}; self peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
