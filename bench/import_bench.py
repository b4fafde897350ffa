#!/usr/bin/env python3
"""Asset import (10,000 rows, validated and committed) vs openpyxl read_only reading the same file.

    .venv/bin/python bench/import_bench.py --db /tmp/perf/full.sqlite --rows 10000 --rounds 3

Target: the import takes <= 3x the time openpyxl read_only needs to read the file.

The file is the media register's import template (registry.exports.imports.write_template, the
real header block) filled with N new items (titles, document numbers, levels, pages, copies, the
custodian by employee number and the room by room code, as a user would fill it in). Each round,
round-robin, in one process:
  read    openpyxl.load_workbook(read_only=True) and iterate every row (values_only): the floor
  dry     registry.exports.imports.import_file(..., dry_run=True): every row parsed and validated,
          rolled back (what the page's preview does)
  import  import_file(..., dry_run=False) + commit: validated and created through
          assets.services.create_asset (registry number, label, audit event per row)
The database is a private copy of --db (imports add rows); every round imports new registry numbers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fmt_range, log, make_app, med, normalise_url, sqlite_path, table  # noqa: E402

WORK = Path("/tmp/perf/import")


def build_file(app, path: Path, rows: int, prefix: str) -> None:
    import openpyxl
    import sqlalchemy as sa

    from registry.exports import registers as regs
    from registry.exports.imports import find_layout, write_template
    from registry.extensions import db

    with app.app_context():
        people = [r[0] for r in db.session.execute(sa.text(
            "SELECT employee_no FROM persons WHERE status = 'active' AND nationality = 'CN' "
            "AND category IN ('core', 'important') ORDER BY id LIMIT 500"))]
        rooms = [r[0] for r in db.session.execute(sa.text("SELECT code FROM rooms ORDER BY id LIMIT 200"))]
        register = regs.get("media")
        write_template(register, "en", path, unit="Bench unit")
        wb = openpyxl.load_workbook(path)
        ws = wb.worksheets[0]
        layout = find_layout(ws, register)
        by_field = {col.field: i for i, col in layout.columns.items()}
        width = max(layout.columns) + 1
        levels = ["Internal", "Confidential", "Unclassified"]
        for n in range(rows):
            row = [None] * width
            values = {"registry_no": f"{prefix}-{n + 1:06d}", "title": f"导入文件 {prefix} 第{n + 1}号",
                      "originator": "第01研究室", "subtype": "Paper", "doc_no": f"〔2026〕{n}号",
                      "level": levels[n % 3], "pages": 10 + n % 90, "copies": 1 + n % 4, "copy_no": 1,
                      "custodian_id": people[n % len(people)], "room_id": rooms[n % len(rooms)], "notes": ""}
            for field, value in values.items():
                if field in by_field:
                    row[by_field[field]] = value
            ws.append(row)
        wb.save(path)
        db.session.remove()


def read_only(path: Path) -> int:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True)
    n = 0
    for ws in wb.worksheets:
        for _row in ws.iter_rows(values_only=True):
            n += 1
    wb.close()
    return n


def do_import(app, path: Path, dry_run: bool):
    import sqlalchemy as sa

    from registry.auth.models import User
    from registry.exports import registers as regs
    from registry.exports.imports import import_file
    from registry.extensions import db

    with app.test_request_context("/bench", method="POST"):
        officer = db.session.scalar(sa.select(User).where(User.username == "bench_officer"))
        result = import_file(db.session, regs.get("media"), path, actor=officer, dry_run=dry_run, filename=path.name)
        if not dry_run:
            db.session.commit()
        db.session.remove()
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-dry", action="store_true", help="skip the dry-run configuration")
    ap.add_argument("--profile", action="store_true", help="profile one import with pyinstrument")
    a = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    src = normalise_url(a.db)
    path = sqlite_path(src)
    if path:
        work_db = WORK / "import.sqlite"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(str(work_db) + suffix):
                os.remove(str(work_db) + suffix)
        shutil.copyfile(path, work_db)
        url = f"sqlite:///{work_db}"
    else:
        url = src
    app = make_app(url, instance=str(WORK / "instance"), WTF_CSRF_ENABLED=False, IMPORT_MAX_ROWS=max(50_000, a.rows))
    configs = ["read", "import"] if a.no_dry else ["read", "dry", "import"]
    results = {c: [] for c in configs}
    stamp = int(time.time()) % 100000
    for rnd in range(a.rounds):
        f = WORK / f"media-{rnd}.xlsx"
        t0 = time.perf_counter()
        build_file(app, f, a.rows, f"IMP{stamp}R{rnd}")
        log(f"round {rnd}: file {f} ({f.stat().st_size / 1e6:.1f} MB) built in {time.perf_counter() - t0:.1f} s")
        k = rnd % len(configs)
        for c in configs[k:] + configs[:k]:
            t0, c0 = time.perf_counter(), time.process_time()
            if c == "read":
                n = read_only(f)
                info = f"{n} rows read"
            else:
                r = do_import(app, f, dry_run=(c == "dry"))
                info = f"rows {r.rows}, created {r.created}, errors {len(r.errors)}"
                if r.errors:
                    info += f" first: {r.errors[0]}"
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            results[c].append((wall, cpu))
            log(f"  {c:7s} {wall:7.2f} s wall {cpu:7.2f} s CPU  {info}")
    if a.profile:
        from pyinstrument import Profiler

        f = WORK / "media-profile.xlsx"
        build_file(app, f, a.rows, f"IMP{stamp}P")
        prof = Profiler(interval=0.001)
        prof.start()
        do_import(app, f, dry_run=False)
        prof.stop()
        print(prof.output_text(unicode=True, color=False, show_all=False))
    base = med([w for w, _c in results["read"]])
    base_cpu = med([c for _w, c in results["read"]])
    rows = []
    for c in configs:
        walls = [w for w, _c in results[c]]
        cpus = [cc for _w, cc in results[c]]
        # paired: each round's run against the same round's read (the machine drifts between rounds)
        paired = [cc / rc for (_w, cc), (_rw, rc) in zip(results[c], results["read"])]
        paired_wall = [w / rw for (w, _c), (rw, _rc) in zip(results[c], results["read"])]
        rows.append([c, fmt_range(walls, ".2f"), fmt_range(cpus, ".2f"), f"{med(walls) / base:.2f}",
                     f"{med(cpus) / base_cpu:.2f}", fmt_range(paired_wall, ".2f"), fmt_range(paired, ".2f"),
                     f"{1000 * med(cpus) / a.rows:.2f}"])
    print(f"\n### import of {a.rows} media rows, {a.rounds} rounds round-robin, in-process; median [min–max]")
    print(table(["configuration", "wall s", "CPU s", "wall ratio to openpyxl read_only", "CPU ratio",
                 "per-round wall ratio", "per-round CPU ratio", "CPU ms per row"], rows))
    walls = [w / rw for (w, _c), (rw, _rc) in zip(results["import"], results["read"])]
    cpus = [cc / rc for (_w, cc), (_rw, rc) in zip(results["import"], results["read"])]
    ratio, ratio_cpu = med(walls), med(cpus)
    print(f"target import <= 3.0x read: {'met' if max(ratio, ratio_cpu) <= 3 else 'NOT MET'} "
          f"(wall {ratio:.2f}x, CPU {ratio_cpu:.2f}x: medians of the per-round ratios)")

if __name__ == "__main__":
    main()
