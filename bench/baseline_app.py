"""Minimal Flask baseline for bench/http_bench.py (PERF-BASELINES §3 "bench/http/app.py", on our schema).

Same database file / URL as the registry under test, same gunicorn settings. Routes:
  GET  /ping          no DB, no template
  GET  /b/<code>      one indexed lookup by a unique key (assets.label_code) + a small Jinja template
  POST /w/<id>        raw conditional UPDATE (available -> checked_out, else back) + INSERT into a
                      log table + COMMIT: the floor under a checkout/checkin at the same durability
Env: BENCH_DB (SQLAlchemy URL), SQLITE_SYNC (default FULL, as the registry), SQLITE_BUSY_MS (15000, as the registry).
Run: BENCH_DB=sqlite:////tmp/perf/run.sqlite gunicorn -w 2 -b 127.0.0.1:18081 --chdir bench baseline_app:app
"""
import datetime as dt
import logging
import os

from flask import Flask, abort, render_template
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

DB_URL = os.environ.get("BENCH_DB", "sqlite:////tmp/perf/run.sqlite")
if DB_URL.startswith("postgresql://"):
    DB_URL = "postgresql+psycopg://" + DB_URL.split("://", 1)[1]
SQLITE_SYNC = os.environ.get("SQLITE_SYNC", "FULL")
SQLITE_BUSY_MS = int(os.environ.get("SQLITE_BUSY_MS", "15000"))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record):
    if DB_URL.startswith("sqlite"):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={SQLITE_SYNC}")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


db = SQLAlchemy()


class Asset(db.Model):
    __tablename__ = "assets"
    id = db.Column(db.Integer, primary_key=True)
    registry_no = db.Column(db.String(40), unique=True)
    title = db.Column(db.String(300))
    level = db.Column(db.String(16))
    status = db.Column(db.String(16))
    label_code = db.Column(db.String(40), unique=True)


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = DB_URL
    db.init_app(app)
    log = logging.getLogger("bench")
    with app.app_context():
        try:  # both workers boot at once: on PostgreSQL the loser of the CREATE race gets a unique violation
            _create_log_table()
        except Exception:  # noqa: BLE001 - the table exists now either way
            pass
    return _routes(app, log)


def _create_log_table():
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_log (id INTEGER PRIMARY KEY, asset_id INTEGER NOT NULL, "
                              "action VARCHAR(16) NOT NULL, at TIMESTAMP NOT NULL)" if DB_URL.startswith("sqlite") else
                              "CREATE TABLE IF NOT EXISTS bench_log (id SERIAL PRIMARY KEY, asset_id INTEGER NOT NULL, "
                              "action VARCHAR(16) NOT NULL, at TIMESTAMP NOT NULL)"))


def _routes(app, log):
    @app.get("/ping")
    def ping():
        return "ok"

    @app.get("/b/<code>")
    def show(code):
        a = db.session.execute(db.select(Asset).filter_by(label_code=code)).scalar_one_or_none()
        if a is None:
            abort(404)
        return render_template("baseline_asset.html", a=a)

    @app.post("/w/<int:asset_id>")
    def write(asset_id):
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        try:
            r = db.session.execute(text("UPDATE assets SET status='checked_out' WHERE id=:id AND status='available'"),
                                   {"id": asset_id})
            action = "checkout"
            if r.rowcount != 1:
                r = db.session.execute(text("UPDATE assets SET status='available' WHERE id=:id AND status='checked_out'"),
                                       {"id": asset_id})
                action = "checkin"
                if r.rowcount != 1:
                    db.session.rollback()
                    return "conflict", 409
            db.session.execute(text("INSERT INTO bench_log (asset_id, action, at) VALUES (:id, :a, :t)"),
                               {"id": asset_id, "a": action, "t": now})
            db.session.commit()
        except OperationalError as e:
            db.session.rollback()
            log.error("write failed: %s", e.orig)
            return "db busy", 503
        return action

    return app


app = create_app()
