"""Flask extensions, instantiated unbound; create_app() binds them."""

import click
from flask import g
from flask.cli import with_appcontext
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from registry.core.models import Base


class _LazyDbGroup(click.Group):
    """`flask db …`: Flask-Migrate's command group, loaded when the command runs."""

    def _real(self) -> click.Group:
        from flask import current_app

        ensure_migrate(current_app)
        from flask_migrate.cli import db as real

        return real

    def list_commands(self, ctx):
        return self._real().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._real().get_command(ctx, name)


@click.group("db", cls=_LazyDbGroup)
@click.option("-d", "--directory", default=None, help='Migration script directory (default is "migrations")')
@click.option("-x", "--x-arg", multiple=True, help="Additional arguments consumed by custom env.py scripts")
@with_appcontext
def _lazy_db(directory, x_arg):
    """Database migrations (Flask-Migrate / Alembic)."""
    g.directory = directory  # read by Flask-Migrate's commands, as its own group does
    g.x_arg = x_arg


class LazyMigrate:
    """Flask-Migrate bound on demand.

    Flask-Migrate imports Alembic (~11 MiB of RSS per process). A web worker never migrates, so
    `create_app()` only records the options; the `db` CLI group, the tests and the backup
    checks call `ensure_migrate(app)` (docs/PERFORMANCE.md, "Memory").
    """

    def init_app(self, app, db, **options) -> None:
        app.extensions["migrate_options"] = (db, options)
        app.cli.add_command(_lazy_db, "db")


def ensure_migrate(app):
    """Bind Flask-Migrate to `app` (once) and return its config: needed before flask_migrate.upgrade()/stamp()."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        db_, options = app.extensions["migrate_options"]
        commands = dict(app.cli.commands)
        Migrate().init_app(app, db_, **options)
        app.cli.commands.update({k: v for k, v in commands.items() if k == "db"})  # keep the lazy group
    return app.extensions["migrate"]


db = SQLAlchemy(model_class=Base)
migrate = LazyMigrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
