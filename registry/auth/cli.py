"""Account commands: create-user, token create, setup-token."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from registry.auth import services
from registry.auth.models import Role, User
from registry.core.errors import DomainError
from registry.extensions import db


def _fail(exc: DomainError):
    details = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in (exc.details or {}).items())
    raise click.ClickException(f"{exc.message} {details}".strip())


@click.command("create-user")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(Role.values()))
@click.option("--password", help="Prompted for (hidden, twice) when not given.")
@click.option("--person", "person_id", type=int, help="Link to a person by id.")
@with_appcontext
def create_user_command(username, role, password, person_id):
    """Create a user account with a role."""
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = services.create_user(db.session, username=username, role=role, password=password, actor=None,
                                    person_id=person_id)
    except DomainError as exc:
        db.session.rollback()
        _fail(exc)
    db.session.commit()
    click.echo(f"Created {role} {user.username} (id {user.id}).")


@click.group("token")
def token_group():
    """API bearer tokens."""


@token_group.command("create")
@click.argument("username")
@click.option("--name", default="cli", help="A name to recognise the token by.")
@click.option("--days", type=int, help="Expire after this many days.")
@with_appcontext
def token_create(username, name, days):
    """Create a bearer token for USERNAME; the token is printed alone on the last line."""
    user = db.session.scalar(db.select(User).where(User.username == username))
    if user is None:
        raise click.ClickException(f"No user named {username}.")
    try:
        raw = services.create_token(db.session, user, actor=None, name=name, days=days)
    except DomainError as exc:
        db.session.rollback()
        _fail(exc)
    db.session.commit()
    click.echo(f"Token for {user.username} ({user.role.value}); shown once, store it safely:")
    click.echo(raw)


@click.command("setup-token")
@with_appcontext
def setup_token_command():
    """Print a one-time token for creating the first administrator at /setup."""
    if services.users_exist(db.session):
        raise click.ClickException("Users exist already; use create-user instead.")
    raw = services.new_setup_token(db.session)
    db.session.commit()
    click.echo(raw)
