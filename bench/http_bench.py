#!/usr/bin/env python3
"""HTTP benchmark: the registry under real gunicorn vs a minimal Flask baseline, side by side (issue 8).

    .venv/bin/python bench/http_bench.py --db /tmp/perf/full.sqlite --suite read  --rounds 3
    .venv/bin/python bench/http_bench.py --db /tmp/perf/full.sqlite --suite write --rounds 3
    .venv/bin/python bench/http_bench.py --db postgresql://postgres@127.0.0.1/reg_perf --suite write --rounds 3

The database comes from bench/generate.py. Both servers are gunicorn `-w 2 -k sync` on 127.0.0.1
(same settings), against the same database file / URL. Load: wrk -t2 -c16 -d<duration>s with
bench/lua/read.lua or bench/lua/write.lua. Configurations run round-robin (the order rotates each
round); every run gets its own server (stopped by pid in a finally) and, for writes, a fresh copy
of the database (SQLite: file copy; PostgreSQL: CREATE DATABASE ... TEMPLATE).

read suite (targets: >= 60 % of the baseline's req/s, p99 <= 100 ms):
  app GET /s/<code>              signed-in officer (cookie): resolve the label, 302 to the action page
  app GET /items/<id>/act        signed-in officer: the asset action page (what /s/<code> leads to)
  app GET /api/v1/scan/<code>    bearer token
  base GET /b/<code>             baseline: one lookup by a unique key + a small template
write suite (targets: >= 50 % of the baseline's rate, 0 double checkouts, 0 lock errors, 0 5xx):
  app POST /api/v1/assets/<id>/checkout and /checkin (bearer; every rule + audit chain)
  base POST /w/<id>              raw conditional UPDATE + INSERT + COMMIT (synchronous=FULL on SQLite)
After each app write run: invariant queries (double open checkouts, status vs open checkouts) and
the audit chain's new tail re-hashed with registry.core.audit (prefix is append-only by trigger).

Reported per configuration: req/s median [min-max], ratio to the baseline (median of the per-round
ratios), p50/p99 ms, non-2xx/3xx and socket errors, server CPU ms per request (gunicorn master +
workers during the load window: the noise-robust figure), PostgreSQL CPU ms per request, and the
CPU seconds used by everything else on the machine ("other": co-tenant noise, of 2 cores x duration).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (BENCH, HOST, PASSWORD, ROOT, fmt_range, host_busy_s, log, make_app, med,  # noqa: E402
                    normalise_url, parse_result_line, postgres_cpu_s, proc_tree_cpu_s, server_env, sqlite_path,
                    stop_process, table)

PY = str(ROOT / ".venv" / "bin" / "python")
WORK = Path("/tmp/perf/http")
INSTANCE = "/tmp/perf/http/instance"


# ------------------------------------------------------------------ database preparation

def pg_admin_url(url: str) -> str:
    base, _, _name = url.rpartition("/")
    return base + "/postgres"


def pg_dbname(url: str) -> str:
    return url.rpartition("/")[2].split("?")[0]


def pg_exec(url: str, *sql: str) -> None:
    import sqlalchemy as sa

    e = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with e.connect() as c:
        for s in sql:
            c.exec_driver_sql(s)
    e.dispose()


def prepare_template(src_url: str, args) -> dict:
    """Credentials (token, session cookie) and the item lists, created once in the template database."""
    WORK.mkdir(parents=True, exist_ok=True)
    os.makedirs(INSTANCE, exist_ok=True)
    path = sqlite_path(src_url)
    if path:
        template = str(WORK / "template.sqlite")
        if args.refresh or not os.path.exists(template) or os.path.getmtime(template) < os.path.getmtime(path):
            log(f"copying {path} -> {template}")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(template + suffix):
                    os.remove(template + suffix)
            shutil.copyfile(path, template)
        template_url = f"sqlite:///{template}"
    else:
        template_url = src_url
    stem = Path(path).stem if path else pg_dbname(src_url)
    creds_file = WORK / f"creds-{stem}.json"
    items_file, pool_file = WORK / f"read_items-{stem}.txt", WORK / f"write_pool-{stem}.txt"
    if creds_file.exists() and items_file.exists() and pool_file.exists() and not args.refresh:
        creds = json.loads(creds_file.read_text())
        if creds.get("template_url") == template_url:
            return creds
    import sqlalchemy as sa

    app = make_app(template_url, instance=INSTANCE, WTF_CSRF_ENABLED=False)
    from registry.auth import services as auth
    from registry.auth.models import User
    from registry.extensions import db

    with app.app_context():
        officer = db.session.scalar(sa.select(User).where(User.username == "bench_officer"))
        token = auth.create_token(db.session, officer, actor=officer, name="http bench")
        db.session.commit()
        rows = db.session.execute(sa.text(
            "SELECT id, label_code FROM assets WHERE label_code IS NOT NULL ORDER BY id")).all()
        rnd = random.Random(5)
        sample = rnd.sample(rows, min(len(rows), 20000))
        items_file.write_text("".join(f"{i} {c}\n" for i, c in sample))
        # write pool: available, unscoped items up to confidential, each with an eligible borrower
        today = time.strftime("%Y-%m-%d")
        borrowers = [r[0] for r in db.session.execute(sa.text(
            "SELECT id FROM persons WHERE status = 'active' AND nationality = 'CN' AND category IN ('core', 'important') "
            "AND commitment_signed_on IS NOT NULL AND (commitment_expires_on IS NULL OR commitment_expires_on > :d)"),
            {"d": today})]
        pool = [r[0] for r in db.session.execute(sa.text(
            "SELECT a.id FROM assets a WHERE a.status = 'available' AND a.level IN ('unclassified', 'internal', "
            "'confidential') AND NOT EXISTS (SELECT 1 FROM asset_scopes s WHERE s.asset_id = a.id)"))]
        rnd.shuffle(pool)
        pool = pool[:args.pool]
        pool_file.write_text("".join(f"{a} {rnd.choice(borrowers)}\n" for a in pool))
        db.session.remove()
    client = app.test_client()
    resp = client.post("/login", data={"username": "bench_officer", "password": PASSWORD})
    assert resp.status_code == 302, resp.data[:300]
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    with app.app_context():
        db.engine.dispose()
    creds = {"template_url": template_url, "token": token, "cookie": f"{cookie.key}={cookie.value}",
             "items": str(items_file), "pool": str(pool_file)}
    creds_file.write_text(json.dumps(creds))
    log(f"template ready: {len(sample)} read items, {len(pool)} write pairs, token + session for bench_officer")
    return creds


def fresh_copy(template_url: str) -> str:
    """A run database: a copy of the template (SQLite file copy, PostgreSQL CREATE DATABASE ... TEMPLATE)."""
    path = sqlite_path(template_url)
    if path:
        target = str(WORK / "run.sqlite")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(target + suffix):
                os.remove(target + suffix)
        shutil.copyfile(path, target)
        os.sync()  # write the 2 GB copy back now, or the runs' fsyncs queue behind its writeback (seconds)
        return f"sqlite:///{target}"
    name = pg_dbname(template_url)
    run = f"{name}_run"
    admin = pg_admin_url(template_url)
    pg_exec(admin, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN ('{name}', '{run}') "
                   "AND pid <> pg_backend_pid()",
            f"DROP DATABASE IF EXISTS {run}", f"CREATE DATABASE {run} TEMPLATE {name}")
    return template_url.rpartition("/")[0] + "/" + run


def drop_copy(run_url: str, template_url: str) -> None:
    if sqlite_path(run_url) or run_url == template_url:
        return
    run = pg_dbname(run_url)
    pg_exec(pg_admin_url(run_url), f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{run}' "
                                   "AND pid <> pg_backend_pid()", f"DROP DATABASE IF EXISTS {run}")


# ------------------------------------------------------------------ servers and load

def start_server(kind: str, db_url: str, port: int, logfile: Path, workers: int):
    if kind == "app":
        cmd = [PY, "-m", "gunicorn", "-w", str(workers), "-k", "sync", "-b", f"{HOST}:{port}", "--timeout", "60",
               "--graceful-timeout", "5", "app:app"]
        env, cwd, ready = server_env(db_url, INSTANCE), str(ROOT), "/healthz"
    else:
        cmd = [PY, "-m", "gunicorn", "-w", str(workers), "-k", "sync", "-b", f"{HOST}:{port}", "--timeout", "60",
               "--graceful-timeout", "5", "baseline_app:app"]
        env, cwd, ready = dict(os.environ, BENCH_DB=db_url), str(BENCH), "/ping"
    f = open(logfile, "w")
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}{ready}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.3)
        if p.poll() is not None:
            f.close()
            raise SystemExit(f"server exited early, see {logfile}")
    else:
        stop_process(p)
        f.close()
        raise SystemExit(f"server not ready in 60 s, see {logfile}")
    time.sleep(1.0)
    return p, f


def run_wrk(script: str, port: int, duration: int, connections: int, threads: int, env: dict):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s",
           "-s", str(BENCH / "lua" / script), f"http://{HOST}:{port}"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ, **env))
    try:
        out = p.communicate(timeout=duration + 60)[0].decode()
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise
    res = parse_result_line(out)
    if res is None:
        raise SystemExit(f"wrk gave no RESULT line:\n{out}")
    return res, out


def measure(server_pid: int, script: str, port: int, a, env: dict) -> dict:
    busy0, srv0, pg0 = host_busy_s(), proc_tree_cpu_s(server_pid), postgres_cpu_s()
    t0 = time.time()
    res, out = run_wrk(script, port, a.duration, a.connections, a.threads, env)
    wall = time.time() - t0
    busy = host_busy_s() - busy0
    srv = proc_tree_cpu_s(server_pid) - srv0
    pg = postgres_cpu_s() - pg0
    n = max(res["requests"], 1)
    res.update(server_cpu_ms=1000 * srv / n, db_cpu_ms=1000 * pg / n, server_cpu_s=srv,
               other_cpu_s=max(busy - srv - pg, 0.0), wall_s=wall,
               errors=res["s4xx"] + res["s5xx"] + res["connect_err"] + res["read_err"] + res["write_err"]
               + res["timeout_err"])
    return res


# ------------------------------------------------------------------ checks after a write run

def check_invariants(run_url: str, head_before: tuple[int, str]) -> dict:
    import sqlalchemy as sa

    from registry.core.audit import AuditEvent, chain_hash

    e = sa.create_engine(run_url)
    out = {}
    with e.connect() as c:
        out["double_open"] = c.execute(sa.text(
            "SELECT count(*) FROM (SELECT asset_id FROM checkouts WHERE returned_at IS NULL GROUP BY asset_id "
            "HAVING count(*) > 1) x")).scalar()
        out["status_mismatch"] = c.execute(sa.text(
            "SELECT count(*) FROM assets a WHERE (a.status = 'checked_out') <> EXISTS (SELECT 1 FROM checkouts c "
            "WHERE c.asset_id = a.id AND c.returned_at IS NULL)")).scalar()
        from sqlalchemy.orm import Session

        with Session(bind=c) as s:
            prev, seq, bad, n = head_before[1], head_before[0], None, 0
            for ev in s.scalars(sa.select(AuditEvent).where(AuditEvent.seq > head_before[0]).order_by(AuditEvent.seq)):
                seq += 1
                n += 1
                if ev.seq != seq or ev.prev_hash != prev or chain_hash(prev, ev.canonical()) != ev.hash:
                    bad = ev.seq
                    break
                prev = ev.hash
            out["audit_new_events"] = n
            out["audit_tail_ok"] = bad is None
        # what the refusals of the run were (a 409 is a rule refusing, recorded as a security event)
        t0 = c.execute(sa.text("SELECT min(at) FROM audit_events WHERE seq > :s"), {"s": head_before[0]}).scalar()
        out["refusals"] = {} if t0 is None else {f"{kind}/{reason}": n for kind, reason, n in c.execute(sa.text(
            "SELECT kind, reason, count(*) FROM security_events WHERE at >= :t GROUP BY kind, reason"), {"t": t0})}
    e.dispose()
    return out


def audit_head(url: str) -> tuple[int, str]:
    import sqlalchemy as sa

    e = sa.create_engine(url)
    with e.connect() as c:
        row = c.execute(sa.text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")).first()
    e.dispose()
    return (row[0], row[1]) if row else (0, "0" * 64)


# ------------------------------------------------------------------ suites

def preflight(port: int, env: dict, creds: dict) -> None:
    """The credentials still sign in: a stale session cookie (idle timeout) would turn every request
    into a cheap 302 to /login and the run would measure the sign-in redirect, not the page."""
    first = Path(creds["items"]).read_text().split("\n", 1)[0].split()
    item_id, code = first[0], first[1]
    if env.get("BENCH_COOKIE"):
        url, headers = f"/items/{item_id}/act", {"Cookie": env["BENCH_COOKIE"]}
    elif env.get("BENCH_TOKEN"):
        url, headers = f"/api/v1/scan/{code}", {"Authorization": f"Bearer {env['BENCH_TOKEN']}"}
    else:
        return

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        status = opener.open(urllib.request.Request(f"http://{HOST}:{port}{url}", headers=headers), timeout=30).status
    except urllib.error.HTTPError as exc:
        status = exc.code
    if status != 200:
        raise SystemExit(f"preflight: GET {url} answered {status}, not 200: the bench credentials are stale "
                         "(session idle timeout?) — run again with --refresh")


def read_configs(creds):
    items = creds["items"]
    return [
        ("app GET /s/<code> (cookie)", "app", "read.lua", {"BENCH_LIST": items, "BENCH_PATH": "/s/{code}",
                                                           "BENCH_COOKIE": creds["cookie"]}),
        ("app GET /items/<id>/act (cookie)", "app", "read.lua", {"BENCH_LIST": items, "BENCH_PATH": "/items/{id}/act",
                                                                 "BENCH_COOKIE": creds["cookie"]}),
        ("app GET /api/v1/scan/<code> (bearer)", "app", "read.lua", {"BENCH_LIST": items,
                                                                     "BENCH_PATH": "/api/v1/scan/{code}",
                                                                     "BENCH_TOKEN": creds["token"]}),
        ("baseline GET /b/<code>", "base", "read.lua", {"BENCH_LIST": items, "BENCH_PATH": "/b/{code}"}),
    ]


def write_configs(creds, threads):
    pool = creds["pool"]
    return [
        ("app POST checkout/checkin (API, bearer)", "app", "write.lua",
         {"BENCH_LIST": pool, "BENCH_MODE": "api", "BENCH_TOKEN": creds["token"], "BENCH_THREADS": str(threads)}),
        ("baseline POST /w/<id> (raw UPDATE+INSERT+COMMIT)", "base", "write.lua",
         {"BENCH_LIST": pool, "BENCH_MODE": "raw", "BENCH_THREADS": str(threads)}),
    ]


def run_suite(a, creds, suite: str):
    template_url = creds["template_url"]
    configs = read_configs(creds) if suite == "read" else write_configs(creds, a.threads)
    if a.only:
        configs = [c for c in configs if c[1] == "base" or any(k in c[0] for k in a.only.split(","))]
    results = {c[0]: [] for c in configs}
    logdir = WORK / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    for rnd in range(a.rounds):
        k = rnd % len(configs)
        order = configs[k:] + configs[:k]
        for name, kind, script, env in order:
            run_url = fresh_copy(template_url) if suite == "write" else template_url
            head = audit_head(run_url) if suite == "write" and kind == "app" else None
            tag = f"{suite}-{kind}-{''.join(ch if ch.isalnum() else '_' for ch in name)[:40]}-r{rnd}"
            p, f = start_server(kind, run_url, a.port, logdir / f"{tag}.log", a.workers)
            try:
                if kind == "app":
                    preflight(a.port, env, creds)
                if a.warmup:
                    run_wrk(script, a.port, a.warmup, a.connections, a.threads, env)
                    if suite == "write":  # the warm-up changed state: restart on a fresh copy
                        stop_process(p)
                        f.close()
                        drop_copy(run_url, template_url)
                        run_url = fresh_copy(template_url)
                        head = audit_head(run_url) if kind == "app" else None
                        p, f = start_server(kind, run_url, a.port, logdir / f"{tag}.log", a.workers)
                res = measure(p.pid, script, a.port, a, env)
            finally:
                stop_process(p)
                f.close()
            text = (logdir / f"{tag}.log").read_text(errors="replace")
            res["locked_in_log"] = text.count("database is locked")
            res["tracebacks_in_log"] = text.count("Traceback")
            if suite == "write" and kind == "app":
                res.update(check_invariants(run_url, head))
            if suite == "write":
                drop_copy(run_url, template_url)
            res["round"] = rnd
            results[name].append(res)
            log(f"  r{rnd} {name:50s} {res['rps']:8.1f} req/s p99 {res['p99_ms']:7.1f} ms  srv {res['server_cpu_ms']:.2f} "
                f"ms/req  err {res['errors']}  other {res['other_cpu_s']:.1f} s" +
                (f"  inv dbl={res['double_open']} mism={res['status_mismatch']} audit+{res['audit_new_events']} "
                 f"ok={res['audit_tail_ok']}" if 'double_open' in res else ""))
    return configs, results


def report(a, suite, configs, results, dbname):
    base_name = next(c[0] for c in configs if c[1] == "base")
    base = {r["round"]: r for r in results[base_name]}
    rows = []
    for name, kind, _s, _e in configs:
        rs = results[name]
        ratios = [r["rps"] / base[r["round"]]["rps"] for r in rs if r["round"] in base and base[r["round"]]["rps"]]
        errs = sum(r["errors"] for r in rs)
        extra = ""
        if "double_open" in rs[0]:
            extra = (f"double open {sum(r['double_open'] for r in rs)}, status mismatch "
                     f"{sum(r['status_mismatch'] for r in rs)}, audit tail ok {all(r['audit_tail_ok'] for r in rs)} "
                     f"(+{sum(r['audit_new_events'] for r in rs)} events)")
            refusals: dict = {}
            for r in rs:
                for key, n in (r.get("refusals") or {}).items():
                    refusals[key] = refusals.get(key, 0) + n
            if refusals:
                extra += "; refusals recorded: " + ", ".join(f"{k} {n}" for k, n in sorted(refusals.items()))
        rows.append([name, fmt_range([r["rps"] for r in rs]), "1.00" if kind == "base" else fmt_range(ratios, ".2f"),
                     f"{med([r['p50_ms'] for r in rs]):.1f}", fmt_range([r["p99_ms"] for r in rs], ".1f"),
                     f"{errs} (5xx {sum(r['s5xx'] for r in rs)}, 409 {sum(r['s409'] for r in rs)}, "
                     f"locked {sum(r['locked_in_log'] for r in rs)})",
                     fmt_range([r["server_cpu_ms"] for r in rs], ".2f"), f"{med([r['db_cpu_ms'] for r in rs]):.2f}",
                     f"{med([r['other_cpu_s'] for r in rs]):.1f}", extra])
    print(f"\n### {suite} — {dbname}, gunicorn -w {a.workers} sync, wrk -t{a.threads} -c{a.connections} "
          f"-d{a.duration}s, {a.rounds} rounds round-robin; median [min–max]")
    print(table(["configuration", "req/s", "ratio to baseline", "p50 ms", "p99 ms", "errors (sum)",
                 "server CPU ms/req", "PG CPU ms/req", "other CPU s", "checks"], rows))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="generated database: SQLite path or postgresql:// URL")
    ap.add_argument("--suite", choices=["read", "write", "all"], default="all")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--port", type=int, default=18431)
    ap.add_argument("--pool", type=int, default=4000, help="assets in the write pool (split between wrk threads)")
    ap.add_argument("--only", default="", help="comma list of substrings of configuration names (+ the baseline)")
    ap.add_argument("--refresh", action="store_true", help="rebuild the template copy and credentials")
    a = ap.parse_args(argv)
    src = normalise_url(a.db)
    creds = prepare_template(src, a)
    dbname = "SQLite (WAL, synchronous=FULL)" if sqlite_path(src) else "PostgreSQL 15"
    suites = ["read", "write"] if a.suite == "all" else [a.suite]
    out = {}
    for suite in suites:
        configs, results = run_suite(a, creds, suite)
        out[suite] = (configs, results)
    for suite in suites:
        report(a, suite, *out[suite], dbname)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (WORK / f"results-{stamp}.json").write_text(json.dumps({s: r for s, (_c, r) in out.items()}, default=str))


if __name__ == "__main__":
    main()
