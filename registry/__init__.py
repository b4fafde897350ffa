"""Registry: the registers of a secrecy office. `create_app()` builds the Flask application."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent

# Example or weak keys that must never sign sessions (SECURITY-RESEARCH §4).
KNOWN_BAD_KEYS = {"dev", "secret", "changeme", "change-me", "development", "your-secret-key", "replace-me",
                  "please-change-this-secret-key-in-production-0000", "example"}


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory: a table of contents of the setup steps."""
    app = Flask(
        __name__,
        instance_path=str(Path(os.environ.get("REGISTRY_INSTANCE_PATH", ROOT / "instance")).resolve()),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    load_config(app, test_config)
    configure_logging(app)
    register_extensions(app)
    register_request_hooks(app)
    register_blueprints(app)
    register_template_helpers(app)
    register_cli(app)
    return app


def load_config(app: Flask, test_config: dict | None) -> None:
    """Defaults, then instance/config.py, then REGISTRY_* / DATABASE_URL / SECRET_KEY, then the test dict."""
    app.config.from_object("registry.config")
    os.makedirs(app.instance_path, exist_ok=True)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("REGISTRY")
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
        if os.environ.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    else:
        app.config.update(test_config)
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith(("postgres://", "postgresql://")):
        uri = "postgresql+psycopg://" + uri.split("://", 1)[1]
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    app.config["SECRET_KEY"] = resolve_secret_key(app)
    if app.config.get("HTTPS"):
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config.setdefault("SESSION_COOKIE_NAME_OVERRIDE", "__Host-registry")
        app.config["SESSION_COOKIE_NAME"] = app.config["SESSION_COOKIE_NAME_OVERRIDE"]
        app.config["PREFERRED_URL_SCHEME"] = "https"
    else:
        app.config.setdefault("SESSION_COOKIE_NAME", "registry_session")
        if app.config["SESSION_COOKIE_NAME"] == "session":
            app.config["SESSION_COOKIE_NAME"] = "registry_session"
    app.config["REMEMBER_COOKIE_DURATION"] = 0
    app.config["BASE_URL"] = str(app.config.get("BASE_URL") or "").rstrip("/")
    if app.debug and not app.config.get("TESTING") and os.environ.get("REGISTRY_ALLOW_DEBUG") != "1":
        raise RuntimeError("Debug mode is refused outside development (set REGISTRY_ALLOW_DEBUG=1 on a dev machine).")


def resolve_secret_key(app: Flask) -> str:
    """SECRET_KEY from configuration, or generated once into instance/secret_key (mode 0600)."""
    key = app.config.get("SECRET_KEY")
    if not key:
        path = Path(app.instance_path) / "secret_key"
        if path.exists():
            key = path.read_text().strip()
        else:
            key = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(key + "\n")
    if isinstance(key, bytes):
        key = key.decode()
    if weak_key(key):
        raise RuntimeError("SECRET_KEY is too short or a known example value: use at least 32 random bytes.")
    # an old key kept for rotation still verifies cookies: it must be as strong as the current one
    if any(weak_key(k.decode() if isinstance(k, bytes) else str(k)) for k in app.config.get("SECRET_KEY_FALLBACKS") or []):
        raise RuntimeError("SECRET_KEY_FALLBACKS holds a short or known example key: remove it.")
    return key


def weak_key(key: str) -> bool:
    return len(key) < 32 or key.lower() in KNOWN_BAD_KEYS or len(set(key)) < 8


def configure_logging(app: Flask) -> None:
    logger = logging.getLogger("registry")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def register_extensions(app: Flask) -> None:
    from registry.core import db as dbsetup
    from registry.extensions import babel, csrf, db, limiter, login_manager, migrate

    import registry.models_all  # noqa: F401  (complete metadata for migrations)

    db.init_app(app)
    with app.app_context():
        dbsetup.setup_engine(db.engine, app)
    migrate.init_app(app, db, directory=str(ROOT / "registry" / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)
    from registry.core.i18n import select_locale, select_timezone

    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories=str(ROOT / "registry" / "translations"))
    from registry.auth.loader import init_login

    init_login(app, login_manager)
    if app.config.get("PROXY_FIX_HOPS"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["PROXY_FIX_HOPS"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_prefix=0)


def register_request_hooks(app: Flask) -> None:
    from registry.core import http

    http.register(app)


def register_blueprints(app: Flask) -> None:
    from registry.blueprints import BLUEPRINTS
    from importlib import import_module

    from registry.core.urls import IdConverter

    app.url_map.converters["int"] = IdConverter  # before any rule is added: bounded ids

    for dotted in BLUEPRINTS:
        module_name, _, attr = dotted.partition(":")
        app.register_blueprint(getattr(import_module(module_name), attr))


def register_template_helpers(app: Flask) -> None:
    from registry.core import templating

    templating.register(app)


def register_cli(app: Flask) -> None:
    from registry.blueprints import CLI_COMMANDS
    from importlib import import_module

    for dotted in CLI_COMMANDS:
        module_name, _, attr = dotted.partition(":")
        app.cli.add_command(getattr(import_module(module_name), attr))
