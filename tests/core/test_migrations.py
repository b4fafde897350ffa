"""The schema comes from migrations: upgrading an empty database yields exactly the models' schema."""

import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from registry import create_app
from registry.extensions import db
from tests.conftest import base_config


@pytest.fixture
def empty_url(tmp_path):
    pg = os.environ.get("TEST_DATABASE_URL")
    if pg:
        engine = sa.create_engine(pg.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("DROP DATABASE IF EXISTS registry_migration_test")
            conn.exec_driver_sql("CREATE DATABASE registry_migration_test")
        engine.dispose()
        yield pg.rsplit("/", 1)[0] + "/registry_migration_test"
        return
    yield f"sqlite:///{tmp_path / 'migrated.sqlite'}"


def test_upgrade_matches_models(empty_url, tmp_path):
    from flask_migrate import upgrade

    from registry.extensions import ensure_migrate

    os.environ["REGISTRY_INSTANCE_PATH"] = str(tmp_path / "instance")
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=empty_url))
    with app.app_context():
        ensure_migrate(app)
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), db.metadata)
            assert not diff, f"models and migration differ (run scripts/regen_initial_migration.sh): {diff}"
            if conn.dialect.name == "sqlite":
                triggers = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'")}
            else:
                triggers = {r[0] for r in conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
            assert {"audit_events_no_delete", "audit_events_no_update"} <= triggers or \
                {"audit_events_no_update_delete", "audit_events_no_truncate"} <= triggers
        db.engine.dispose()
