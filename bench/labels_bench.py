#!/usr/bin/env python3
"""Label sheet of 1,000 labels: warm (labels generated before) and cold vs the raw QR library.

    .venv/bin/python bench/labels_bench.py --db /tmp/perf/full.sqlite --labels 1000 --rounds 3

Targets: the sheet with its 1,000 QR images in <= 1 s when the labels were generated before (cache
keyed by code, not in static/), and, the first time, no slower than segno.make_qr itself.

What "the sheet" costs is what a browser does to show it: GET <sheet route>?asset_ids=... (the
route takes at most 400 ids per request, so 1,000 labels are 3 sheet requests) plus one
GET /labels/<code>.svg per <img src="/labels/..."> the sheet references (none once the sheet embeds
its QR images as data: URIs). In-process, Flask test client, signed
in as bench_officer. Configurations, round-robin:
  raw    segno.make_qr(payload, error="m") + SVG to memory for the same 1,000 payloads (the floor)
  cold   an empty QR cache: the sheet requests + 1,000 image requests (each renders and caches)
  warm   the same with the cache filled
"""

from __future__ import annotations

import argparse
import io
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BASE_URL, PASSWORD, fmt_range, log, make_app, med, normalise_url, table  # noqa: E402

WORK = Path("/tmp/perf/labels")
IMG_RE = re.compile(rb'src="(/labels/[A-Za-z0-9_-]+\.svg)"')


def raw(payloads):
    import segno

    for p in payloads:
        qr = segno.make_qr(p, error="m")
        buf = io.BytesIO()
        qr.save(buf, kind="svg", scale=1, border=2, xmldecl=False, svgclass=None, lineclass=None, dark="#000",
                omitsize=True)


SHEET_URL = ["/labels/sheet"]


def sheet(client, ids, per_request):
    """The sheet page(s), then every image the page references. Returns (#labels, bytes)."""
    imgs, size, inline = [], 0, 0
    for k in range(0, len(ids), per_request):
        q = "&".join(f"asset_ids={i}" for i in ids[k:k + per_request])
        r = client.get(f"{SHEET_URL[0]}?{q}")
        assert r.status_code == 200, r.status_code
        size += len(r.data)
        imgs += IMG_RE.findall(r.data)
        inline += r.data.count(b'src="data:image/svg+xml')
    for src in imgs:
        r = client.get(src.decode())
        assert r.status_code == 200, (src, r.status_code)
        size += len(r.data)
    return len(imgs) + inline, size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--labels", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--per-request", type=int, default=400, help="ids per sheet request (the route's limit)")
    ap.add_argument("--profile", choices=["", "cold", "warm"], default="")
    a = ap.parse_args(argv)
    import sqlalchemy as sa

    WORK.mkdir(parents=True, exist_ok=True)
    app = make_app(normalise_url(a.db), instance=str(WORK / "instance"), WTF_CSRF_ENABLED=False)
    from registry.extensions import db

    with app.app_context():
        rows = db.session.execute(sa.text(
            "SELECT id, label_code FROM assets WHERE label_code IS NOT NULL AND status <> 'destroyed' "
            "ORDER BY registry_no LIMIT :n"), {"n": a.labels}).all()
        db.session.remove()
    ids = [r[0] for r in rows]
    with app.test_request_context():
        from flask import url_for

        SHEET_URL[0] = url_for("assets.label_sheet")
    payloads = [f"{BASE_URL}/s/{r[1]}" for r in rows]
    client = app.test_client()
    assert client.post("/login", data={"username": "bench_officer", "password": PASSWORD}).status_code == 302
    results = {"raw": [], "cold": [], "warm": []}
    configs = list(results)
    info = {}

    def run(c, rnd):
        if c == "raw":
            raw(payloads)
            return len(payloads), 0
        cache = WORK / f"cache-{c}-{rnd}"
        if c == "cold":
            shutil.rmtree(cache, ignore_errors=True)
        else:
            cache = WORK / "cache-warm"
            if not cache.exists():
                app.config["CACHE_DIR"] = str(cache)
                sheet(client, ids, a.per_request)  # generate them before
        app.config["CACHE_DIR"] = str(cache)
        return sheet(client, ids, a.per_request)

    for rnd in range(a.rounds):
        k = rnd % len(configs)
        for c in configs[k:] + configs[:k]:
            if c == "warm" and not (WORK / "cache-warm").exists():
                run(c, rnd)  # first fill: not measured
            t0, c0 = time.perf_counter(), time.process_time()
            n, size = run(c, rnd)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            results[c].append((wall, cpu))
            info[c] = (n, size)
            log(f"  r{rnd} {c:5s} {wall:7.2f} s wall {cpu:6.2f} s CPU  ({n} labels, {size / 1e6:.2f} MB)")
    if a.profile:
        from pyinstrument import Profiler

        prof = Profiler(interval=0.001)
        prof.start()
        run(a.profile, 99)
        prof.stop()
        print(prof.output_text(unicode=True, color=False, show_all=False))
    shutil.rmtree(WORK / "cache-warm", ignore_errors=True)
    for p in WORK.glob("cache-cold-*"):
        shutil.rmtree(p, ignore_errors=True)
    base = med([w for w, _ in results["raw"]])
    base_cpu = med([c for _, c in results["raw"]])
    rows = []
    for c in configs:
        walls = [w for w, _ in results[c]]
        cpus = [cc for _, cc in results[c]]
        # paired: each round's CPU against the same round's raw run (the machine drifts between rounds)
        paired = [cc / rc for (_, cc), (_, rc) in zip(results[c], results["raw"])]
        rows.append([c, fmt_range(walls, ".2f"), fmt_range(cpus, ".2f"), f"{med(walls) / base:.2f}",
                     f"{med(cpus) / base_cpu:.2f}", fmt_range(paired, ".2f"), info[c][0]])
    print(f"\n### label sheet of {a.labels} labels, in-process, {a.rounds} rounds round-robin; median [min–max]")
    print(table(["configuration", "wall s", "CPU s", "wall vs raw segno", "CPU vs raw segno",
                 "CPU vs raw, per round", "labels"], rows))
    warm = med([w for w, _ in results["warm"]])
    cold_ratio = med([cc / rc for (_, cc), (_, rc) in zip(results["cold"], results["raw"])])
    verdict = "met" if cold_ratio <= 1 else "at parity (within 2 %)" if cold_ratio <= 1.02 else "NOT MET"
    print(f"target warm <= 1 s: {'met' if warm <= 1 else 'NOT MET'} ({warm:.2f} s); "
          f"target cold <= raw: {verdict} (CPU {cold_ratio:.3f}x, median of the per-round ratios)")


if __name__ == "__main__":
    main()
