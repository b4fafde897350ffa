"""Hardening harness: real gunicorn (4 sync workers) on a loopback port, over its own database.

Every test module that uses `server` (or `start_server`) gets a database of its own: a copy of
the session's SQLite template, or, when TEST_DATABASE_URL is set, a new PostgreSQL database
created with the superuser on that server and built exactly like tests/conftest.py builds the
test schema (create_all + append-only triggers + stamp). Teardown kills gunicorn's whole process
group and drops the database.

The test process talks to the same database through a second `create_app()` (`srv.app`), with
the factories of tests/conftest.py (`srv.make`), so users, tokens and records are created through
the real services.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from registry import create_app
from registry.extensions import db
from tests.conftest import PASSWORD, Factory, _create_schema, base_config

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("TEST_DATABASE_URL")
SERVER_SECRET = "hardening-secret-2b7f4e9a1c0d8e6f3a5b7c9d1e3f5a7b"
WORKERS = 4
BOOT_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0


# ------------------------------------------------------------------ databases

def _pg_admin_engine():
    url = sa.make_url(PG_URL)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT"), url


@contextlib.contextmanager
def fresh_database(tag: str, tmp_path: Path, sqlite_template: str):
    """Yield the URL of a new, empty registry database (SQLite file or PostgreSQL database)."""
    if not PG_URL:
        target = tmp_path / f"{tag}.sqlite"
        shutil.copyfile(sqlite_template, target)
        yield f"sqlite:///{target}"
        return
    admin, url = _pg_admin_engine()
    name = f"reg_h_{tag}_{os.getpid()}_{uuid.uuid4().hex[:6]}".lower()[:60]
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db_url = url.set(database=name).render_as_string(hide_password=False)
    try:
        os.environ["REGISTRY_INSTANCE_PATH"] = str(tmp_path / f"{tag}-schema-instance")
        app = create_app(base_config(SQLALCHEMY_DATABASE_URI=db_url))
        _create_schema(app)
        with app.app_context():
            db.engine.dispose()
        yield db_url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def is_postgres() -> bool:
    return bool(PG_URL)


# ------------------------------------------------------------------ gunicorn

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name may contain spaces: fields after the closing parenthesis
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(entry))
    return kids


class Server:
    """A running gunicorn master with its workers, plus helpers that use the same database."""

    def __init__(self, db_url: str, workdir: Path, env: dict[str, str], workers: int = WORKERS,
                 preload: bool = False):
        self.db_url = db_url
        self.preload = preload
        self.workdir = workdir
        self.extra_env = env
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"gunicorn-{self.port}.log"
        self.proc: subprocess.Popen | None = None
        os.environ["REGISTRY_INSTANCE_PATH"] = str(workdir / "test-instance")
        self.app = create_app(base_config(SQLALCHEMY_DATABASE_URI=db_url, BASE_URL="https://registry.example.test"))
        self.make = Factory(self.app)
        self._local = threading.local()

    # -- process control
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_") and k != "TEST_DATABASE_URL"}
        env.update({
            "DATABASE_URL": self.db_url,
            "SECRET_KEY": SERVER_SECRET,
            "REGISTRY_INSTANCE_PATH": str(self.workdir / "instance"),
            "REGISTRY_BASE_URL": "https://registry.example.test",
            "REGISTRY_RATELIMIT_ENABLED": "false",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self) -> "Server":
        # A gunicorn config file used by the harness only: each worker leaves a marker once it has
        # imported the app, so a test can tell a booted worker from one still starting.
        self.ready_dir = self.workdir / f"ready-{self.port}"
        self.ready_dir.mkdir(exist_ok=True)
        conf = self.workdir / f"gunicorn-{self.port}.conf.py"
        conf.write_text(
            "import os\n"
            f"READY = {str(self.ready_dir)!r}\n"
            "def post_worker_init(worker):\n"
            "    open(os.path.join(READY, str(os.getpid())), 'w').close()\n"
            # with --preload the app (and its engine, never connected) comes from the master:
            # each worker drops the inherited pool, as SQLAlchemy advises for forked processes
            "def post_fork(server, worker):\n"
            "    import sys\n"
            "    app = getattr(sys.modules.get('app'), 'app', None)\n"
            "    if app is not None:\n"
            "        from registry.extensions import db\n"
            "        with app.app_context():\n"
            "            db.engine.dispose(close=False)\n")
        cmd = [sys.executable, "-m", "gunicorn", "--config", str(conf), "--workers", str(self.workers),
               *(["--preload"] if self.preload else []),
               "--worker-class", "sync", "--bind", f"127.0.0.1:{self.port}", "--timeout", "60",
               "--graceful-timeout", "2", "--log-level", "warning", "app:app"]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env(), stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200 and \
                        len(self.ready_workers()) == self.workers:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz within {BOOT_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        # workers orphaned by a killed master are in the same process group: wait until gone
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(self.proc.pid):
            time.sleep(0.1)
        self.proc = None
        with contextlib.suppress(Exception):
            self._log.close()

    def kill_master(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def worker_pids(self) -> list[int]:
        return _children(self.proc.pid) if self.proc else []

    def ready_workers(self) -> list[int]:
        """Workers that have finished importing the app (marker written by post_worker_init)."""
        return [pid for pid in self.worker_pids() if (self.ready_dir / str(pid)).exists()]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    # -- HTTP
    def session(self) -> requests.Session:
        """A requests session per thread (connection reuse stays within one thread)."""
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def request(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        kw.setdefault("timeout", REQUEST_TIMEOUT)
        kw.setdefault("allow_redirects", False)
        return self.session().request(method, self.url + path, headers=headers, **kw)

    def get(self, path, token=None, **kw):
        return self.request("GET", path, token, **kw)

    def post(self, path, token=None, **kw):
        return self.request("POST", path, token, **kw)

    # -- data through the services
    def user(self, role: str, username: str | None = None, person_id: int | None = None,
             password: str = PASSWORD) -> tuple[int, str]:
        uid = self.make.user(role, username=username, person_id=person_id, password=password)
        with self.app.app_context():
            from registry.auth.models import User

            return uid, db.session.get(User, uid).username

    def token(self, role: str, **kw) -> str:
        uid, _ = self.user(role, **kw)
        return self.make.token(uid)

    def scalar(self, sql: str, **params):
        rows = self.rows(sql, **params)
        return rows[0][0] if rows else None

    def rows(self, sql: str, **params) -> list:
        """A read in the test process (plain BEGIN on SQLite: it never holds the write lock)."""
        from registry.core.db import _force_write

        mark = _force_write.set(False)
        try:
            with self.app.app_context():
                try:
                    return list(db.session.execute(sa.text(sql), params))
                finally:
                    db.session.rollback()
        finally:
            _force_write.reset(mark)

    def execute(self, sql: str, **params) -> None:
        with self.app.app_context():
            db.session.execute(sa.text(sql), params)
            db.session.commit()

    def verify_audit(self):
        from registry.core import audit
        from registry.core.db import _force_write

        mark = _force_write.set(False)
        try:
            with self.app.app_context():
                try:
                    return audit.verify(db.session)
                finally:
                    db.session.rollback()
        finally:
            _force_write.reset(mark)

    def form_session(self, path: str = "/login") -> tuple[requests.Session, str]:
        """A new browser-like session that has loaded `path`; returns it with the page's CSRF token."""
        s = requests.Session()
        page = s.get(self.url + path, timeout=REQUEST_TIMEOUT, allow_redirects=False)
        assert page.status_code == 200, (path, page.status_code)
        m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
        assert m, "no CSRF token on " + path
        return s, m.group(1)

    def login(self, username: str, password: str = PASSWORD, headers: dict | None = None) -> requests.Session:
        s, token = self.form_session()
        resp = s.post(self.url + "/login", data={"username": username, "password": password, "csrf_token": token},
                      headers=headers or {}, timeout=REQUEST_TIMEOUT, allow_redirects=False)
        assert resp.status_code == 302, (resp.status_code, resp.text[:300])
        return s

    def dispose(self) -> None:
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies still count for killpg; look at /proc for live members
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def hardening_db(request, _template_db, tmp_path_factory):
    """A database of this test module's own (see the module docstring)."""
    tag = request.module.__name__.rsplit(".", 1)[-1].replace("test_", "")[:20]
    tmp = tmp_path_factory.mktemp(f"hdb-{tag}")
    with fresh_database(tag, tmp, _template_db) as url:
        yield url


@pytest.fixture(scope="module")
def start_server(hardening_db, tmp_path_factory):
    """start_server(preload=False, **env) -> a running Server over the module's database.

    Every server started is killed (whole process group) at the module's teardown. `preload`
    imports the app once in the master, so that a killed worker is replaced at once by a fork
    (the crash test); production runs without it, and so does every other test."""
    started: list[Server] = []

    def _start(preload: bool = False, **env) -> Server:
        srv = Server(hardening_db, tmp_path_factory.mktemp("gunicorn"), {k: str(v) for k, v in env.items()},
                     preload=preload)
        started.append(srv)
        try:
            return srv.start()
        except Exception:
            srv.dispose()
            raise

    yield _start
    for srv in started:
        srv.stop()
        srv.dispose()


@pytest.fixture(scope="module")
def server(start_server):
    """The module's gunicorn (4 sync workers, rate limiting off: the database throttle is what counts)."""
    return start_server()


def figure(test: str, **values) -> None:
    """One line of the figures a long test measured (run with -s; docs/SECURITY.md quotes them)."""
    backend = "postgresql" if PG_URL else "sqlite"
    print(f"\nFIGURE [{backend}] {test}: " + ", ".join(f"{k}={v}" for k, v in values.items()), flush=True)


def parallel(n: int, fn, *args_list, timeout: float = 120.0) -> list:
    """Run fn(i) for i in range(n) in n threads released together; returns results in order.

    An exception in a call is returned in its slot (not raised), so every round is counted.
    """
    barrier = threading.Barrier(n)

    def run(i):
        barrier.wait(timeout=30)
        try:
            return fn(i)
        except Exception as exc:  # returned, asserted by the caller
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(run, i) for i in range(n)]
        return [f.result(timeout=timeout) for f in futures]


# SECURITY-RESEARCH §5: the register's invariants, as SQL that must return no rows.
INVARIANTS = {
    "asset with more than one open checkout":
        "SELECT asset_id FROM checkouts WHERE returned_at IS NULL GROUP BY asset_id HAVING COUNT(*) > 1",
    "asset status disagrees with its open checkout":
        "SELECT a.id FROM assets a WHERE (a.status = 'checked_out') <> EXISTS "
        "(SELECT 1 FROM checkouts c WHERE c.asset_id = a.id AND c.returned_at IS NULL)",
    "visitor with more than one open visit":
        "SELECT visitor_id FROM visits WHERE exited_at IS NULL GROUP BY visitor_id HAVING COUNT(*) > 1",
}


def assert_invariants(srv: Server) -> None:
    broken = {name: srv.rows(sql) for name, sql in INVARIANTS.items()}
    broken = {k: v for k, v in broken.items() if v}
    assert not broken, f"invariants violated: {broken}"


@contextlib.contextmanager
def demo_app(database_url: str, instance: Path):
    """An app on `database_url` with the demo data loaded (its own instance folder); disposed after."""
    os.environ["REGISTRY_INSTANCE_PATH"] = str(instance)
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=database_url))
    with app.app_context():
        from registry.core.demo import load_demo

        load_demo(db.session)
        db.session.commit()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
