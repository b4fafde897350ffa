"""Fixtures: a fresh database per test (SQLite file, or PostgreSQL when TEST_DATABASE_URL is set),
the app, clients, factories and sign-in helpers."""

from __future__ import annotations

import itertools
import os
import shutil
import time
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

# The tests' "today" (date.today() in factories and expectations) is the unit's today: the default
# unit time zone is Asia/Shanghai, and between 16:00 and 24:00 UTC its date is already tomorrow.
# Rules use the unit's date (people.services.unit_today), never the server's.
os.environ["TZ"] = "Asia/Shanghai"
time.tzset()

from registry import create_app  # noqa: E402
from registry.extensions import db

PG_URL = os.environ.get("TEST_DATABASE_URL")
IN_CI = os.environ.get("CI") == "true"
SECRET = "test-secret-key-5f0c2a7e9b1d4c3a8e6f0b2d4c6a8e0f"
PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def base_config(**extra) -> dict:
    cfg = {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "BASE_URL": "https://registry.example.test",
        "LOGIN_LOCK_BASE_SECONDS": 60,
        "BABEL_DEFAULT_LOCALE": "en",  # tests read English unless they ask for Chinese (the product default is zh_CN)
    }
    cfg.update(extra)
    return cfg


def _create_schema(app) -> None:
    from registry.core.audit import install_append_only_triggers

    with app.app_context():
        import registry.models_all  # noqa: F401  (every model registered on the metadata)

        db.create_all()
        with db.engine.begin() as conn:
            install_append_only_triggers(conn)
        from flask_migrate import stamp

        from registry.extensions import ensure_migrate

        ensure_migrate(app)
        stamp()  # the schema is the models' = the migration head (checked in tests/core/test_migrations.py)


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory):
    """Build the schema once per session; tests get a copy (SQLite) or a truncated schema (PostgreSQL)."""
    if PG_URL:
        app = create_app(base_config(SQLALCHEMY_DATABASE_URI=PG_URL))
        with app.app_context():
            import registry.models_all  # noqa: F401

            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        _create_schema(app)
        with app.app_context():
            db.engine.dispose()
        return PG_URL
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"))
    _create_schema(app)
    with app.app_context():
        db.engine.dispose()
    return str(path)


def _truncate_pg(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1)
                              if url.startswith("postgresql://") else url)
    with engine.begin() as conn:
        conn.exec_driver_sql("SET session_replication_role = replica")
        tables = [r[0] for r in conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        if tables:
            conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture
def db_url(_template_db, tmp_path):
    if PG_URL:
        _truncate_pg(PG_URL)
        return PG_URL
    target = tmp_path / "registry.sqlite"
    shutil.copyfile(_template_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def app_config():
    """Override in a test module to change configuration."""
    return {}


@pytest.fixture
def app(db_url, app_config, tmp_path):
    os.environ["REGISTRY_INSTANCE_PATH"] = str(tmp_path / "instance")
    application = create_app(base_config(SQLALCHEMY_DATABASE_URI=db_url, **app_config))
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def ctx(app):
    """An application context for service-level tests."""
    with app.app_context():
        yield
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ------------------------------------------------------------------ factories

class Factory:
    """Creates records through the real services (so audit and invariants hold), committing each."""

    def __init__(self, app):
        self.app = app

    def _commit(self, fn):
        with self.app.app_context():
            obj = fn()
            db.session.commit()
            obj_id = obj.id
            cls = type(obj)
        return cls, obj_id

    def person(self, **kw):
        from registry.people import services

        n = next(_counter)
        data = {"name": f"Person {n}", "employee_no": f"T{n:05d}", "department": "Lab 1", "position": "Engineer",
                "nationality": "CN", "category": "important", "commitment_signed_on": date.today() - timedelta(days=30),
                "commitment_expires_on": date.today() + timedelta(days=365), "status": "active",
                "decommission_until": None, "phone": "", "notes": ""}
        data.update(kw)
        with self.app.app_context():
            p = services.create_person(db.session, data, actor=None)
            db.session.commit()
            return p.id

    def room(self, **kw):
        from registry.areas import services

        n = next(_counter)
        data = {"code": f"R-{n}", "name": f"Room {n}", "location": "Building A", "level": "secret",
                "foreign_policy": "escorted", "max_visitors_per_escort": 5, "protection": "", "responsible_id": None}
        data.update(kw)
        with self.app.app_context():
            r = services.create_room(db.session, data, actor=None)
            db.session.commit()
            return r.id

    def project(self, **kw):
        """A cooperation project (visits); review_status defaults to passed."""
        from registry.cooperation import services

        n = next(_counter)
        data = {"name": f"Project {n}", "partner": "Partner GmbH", "partner_country": "DE", "department": "Lab 1",
                "description": "", "starts_on": None, "ends_on": None, "review_status": "passed",
                "reviewed_by": None, "reviewed_on": date.today() - timedelta(days=10), "conclusion": "ok"}
        data.update(kw)
        with self.app.app_context():
            p = services.create_project(db.session, data, actor=None)
            db.session.commit()
            return p.id

    def visitor(self, **kw):
        """A visitor (visits); foreign (DE) by default, expected from yesterday to tomorrow."""
        from registry.visits import services

        n = next(_counter)
        data = {"name": f"Visitor {n}", "name_alt": "", "nationality": "DE", "id_doc_type": "passport",
                "id_doc_no": f"C{n:08d}", "organization": "Partner GmbH", "position": "", "purpose": "meeting",
                "host_id": None, "project_id": None, "arrives_on": date.today() - timedelta(days=1),
                "departs_on": date.today() + timedelta(days=1), "blocked": False, "blocked_reason": "", "notes": ""}
        data.update(kw)
        with self.app.app_context():
            v = services.create_visitor(db.session, data, actor=None)
            db.session.commit()
            return v.id

    def user(self, role="officer", username=None, password=PASSWORD, person_id=None):
        from registry.auth import services

        username = username or f"{role}{next(_counter)}"
        with self.app.app_context():
            u = services.create_user(db.session, username=username, role=role, password=password, actor=None,
                                     person_id=person_id)
            db.session.commit()
            return u.id

    def token(self, user_id):
        from registry.auth import services
        from registry.auth.models import User

        with self.app.app_context():
            raw = services.create_token(db.session, db.session.get(User, user_id), actor=None)
            db.session.commit()
            return raw


@pytest.fixture
def make(app):
    return Factory(app)


def login(client, username, password=PASSWORD):
    return client.post("/login", data={"username": username, "password": password})


@pytest.fixture
def as_role(app, make):
    """as_role("officer") -> a test client signed in with a new user of that role."""

    def _as(role, **kw):
        c = app.test_client()
        uid = make.user(role, **kw)
        with app.app_context():
            from registry.auth.models import User

            name = db.session.get(User, uid).username
        resp = login(c, name)
        assert resp.status_code == 302, resp.data[:500]
        c.user_id = uid
        c.username = name
        return c

    return _as


class ApiClient:
    def __init__(self, client, token):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, url, **kw):
        return self.client.get(url, headers=self.headers, **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(url, json=json, headers=self.headers, **kw)

    def patch(self, url, json=None, **kw):
        return self.client.patch(url, json=json, headers=self.headers, **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self.headers, **kw)


@pytest.fixture
def api(app, make):
    """api("officer") -> a client that sends a bearer token of a new user of that role."""

    def _api(role, **kw):
        uid = make.user(role, **kw)
        c = ApiClient(app.test_client(), make.token(uid))
        c.user_id = uid
        return c

    return _api
