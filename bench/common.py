"""Shared bits of the benchmarks: the app factory call, bench accounts, process helpers, tables.

Nothing here is imported by the application. Every benchmark runs from the repository root:
    .venv/bin/python bench/<script>.py --help
"""

from __future__ import annotations

import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SECRET_KEY = "bench-only-secret-key-3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c1e"
BASE_URL = "https://registry.bench.test"
PASSWORD = "bench password for perf runs 2026"
# username -> role; created by generate.py through the real services (audited)
BENCH_USERS = {"bench_admin": "admin", "bench_officer": "officer", "bench_approver": "approver",
               "bench_inspector": "inspector", "bench_guard": "guard", "bench_staff": "staff"}
HOST = "127.0.0.1"


def normalise_url(db: str) -> str:
    """A path or a SQLAlchemy URL -> a URL the app accepts."""
    if "://" not in db:
        return f"sqlite:///{os.path.abspath(db)}"
    if db.startswith("postgresql://"):
        return "postgresql+psycopg://" + db.split("://", 1)[1]
    return db


def sqlite_path(url: str) -> str | None:
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):]
    return None


def app_config(url: str, **extra) -> dict:
    cfg = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY, "BASE_URL": BASE_URL,
           "RATELIMIT_ENABLED": False}
    cfg.update(extra)
    return cfg


def make_app(url: str, instance: str | None = None, **extra):
    os.environ["REGISTRY_INSTANCE_PATH"] = instance or os.environ.get("REGISTRY_INSTANCE_PATH") or "/tmp/registry_bench_instance"
    from registry import create_app

    return create_app(app_config(url, **extra))


def server_env(url: str, instance: str, **extra) -> dict:
    """Environment for a gunicorn running app:app against `url` (same settings as production config)."""
    env = dict(os.environ)
    env.update({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "REGISTRY_BASE_URL": BASE_URL,
                "REGISTRY_INSTANCE_PATH": instance, "REGISTRY_RATELIMIT_ENABLED": "false"})
    env.update(extra)
    return env


# ------------------------------------------------------------------ CPU accounting (from baseline-bench)

def host_busy_s() -> float:
    """Non-idle CPU seconds of the whole machine so far (all processes, all cores)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def proc_tree_cpu_s(pid: int) -> float:
    """user+system CPU seconds of pid and its live children (gunicorn master + workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    for q in pids:
        try:
            with open(f"/proc/{q}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / tick


def postgres_cpu_s() -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        if comm == "postgres":
            fields = raw.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / tick


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ------------------------------------------------------------------ summaries

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def fmt_range(values, spec=".0f") -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{format(statistics.median(values), spec)} [{format(min(values), spec)}–{format(max(values), spec)}]"


def table(headers, rows) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def log(msg: str) -> None:
    print(msg, flush=True)


def stop_process(p: subprocess.Popen, timeout: float = 15):
    """SIGTERM by pid, wait, SIGKILL if needed; returns the rusage of the reaped process (with children)."""
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return ru
        time.sleep(0.1)
    p.kill()
    try:
        _, _, ru = os.wait4(p.pid, 0)
        return ru
    except ChildProcessError:
        return None


def parse_result_line(out: str, tag: str = "RESULT"):
    import json

    m = re.search(rf"^{tag} (\{{.*\}})$", out, re.M)
    return json.loads(m.group(1)) if m else None
