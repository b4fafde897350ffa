"""`flask --app app assets ...`: desk checkout and checkin from the console, the register, overdue report.

The commands call the same services as the pages and the API. A refused action is recorded as a
security event (record_refusal) and shown as an error (exit status 1).
"""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from registry.core.errors import DomainError, RuleViolation
from registry.extensions import db


def _fail(exc: DomainError, actor=None):
    """Record a rule refusal, then raise the ClickException naming the reason."""
    if isinstance(exc, RuleViolation):
        from registry.core.security_events import record_refusal

        record_refusal(db.session, exc, actor=actor)
    else:
        db.session.rollback()
    details = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}"
                        for k, v in (exc.details or {}).items() if k not in ("race",))
    raise click.ClickException(f"{exc.message} [{exc.code}]" + (f" ({details})" if details else ""))


def _asset(number: str):
    from registry.assets.services import get_by_registry_no

    asset = get_by_registry_no(db.session, number)
    if asset is None:
        raise click.ClickException(f"No item with registry number {number}.")
    return asset


def _actor(username: str | None):
    if not username:
        return None
    from registry.auth.models import User

    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.active:
        raise click.ClickException(f"No active user named {username}.")
    return user


@click.group("assets")
def assets_group():
    """Classified items: checkout, checkin, register listing, overdue report."""


@assets_group.command("checkout")
@click.argument("registry_no")
@click.option("--borrower", required=True, help="The borrower's employee number.")
@click.option("--purpose", required=True, help="Why the item is taken out.")
@click.option("--due", help="Due date (YYYY-MM-DD) or date-time; default by level.")
@click.option("--device", help="Registry number of the computer a storage medium is used with.")
@click.option("--approval", "approval_id", type=int, help="Approval id (found automatically when omitted).")
@click.option("--by", "username", help="The officer handling the checkout (default: the console).")
@with_appcontext
def checkout_command(registry_no, borrower, purpose, due, device, approval_id, username):
    """Check REGISTRY_NO out to the person with employee number --borrower (every SPEC §4 rule applies)."""
    from registry.assets import services
    from registry.people.models import Person

    actor = _actor(username)
    asset = _asset(registry_no)
    person = db.session.scalar(sa.select(Person).where(sa.func.upper(Person.employee_no) == borrower.upper()))
    if person is None:
        raise click.ClickException(f"No person with employee number {borrower}.")
    try:
        record = services.checkout(db.session, asset, person, actor=actor, purpose=purpose, due_at=due,
                                   approval=services.get_approval_or_none(db.session, approval_id),
                                   device=_asset(device) if device else None)
    except DomainError as exc:
        _fail(exc, actor)
    db.session.commit()
    click.echo(f"Checked out {asset.registry_no} to {person.name} ({person.employee_no}), "
               f"due {record.due_at.isoformat(timespec='minutes')} (checkout {record.id}).")


@assets_group.command("checkin")
@click.argument("registry_no")
@click.option("--condition", type=click.Choice(["intact", "damaged", "seal_broken", "incomplete"]),
              default="intact", show_default=True, help="Condition on return.")
@click.option("--note", default="", help="What was found on return.")
@click.option("--by", "username", help="The officer receiving the item (default: the console).")
@with_appcontext
def checkin_command(registry_no, condition, note, username):
    """Check REGISTRY_NO in; a condition other than intact records a return discrepancy."""
    from registry.assets import services

    actor = _actor(username)
    asset = _asset(registry_no)
    try:
        record = services.checkin(db.session, asset, actor=actor, condition=condition, note=note)
    except DomainError as exc:
        _fail(exc, actor)
    db.session.commit()
    suffix = "" if condition == "intact" else " A return_discrepancy security event was recorded."
    click.echo(f"Checked in {asset.registry_no} ({condition}), checkout {record.id}.{suffix}")


@assets_group.command("list")
@click.option("--kind", type=click.Choice(["media", "computer", "storage", "equipment"]))
@click.option("--status", type=click.Choice(["available", "checked_out", "missing", "destroyed"]))
@click.option("--overdue", is_flag=True, help="Only items whose checkout is overdue.")
@with_appcontext
def list_command(kind, status, overdue):
    """Print the register: registry number, kind, level, status, holder and due date (no titles)."""
    from registry.assets import services

    stmt = services.assets_query(None, kind=kind, status=status, overdue=True if overdue else None)
    count = 0
    for asset in db.session.scalars(stmt):
        current = services.open_checkout(db.session, asset)
        holder = f"{current.borrower.employee_no} due {current.due_at.date().isoformat()}" if current else ""
        click.echo(f"{asset.registry_no:18} {asset.kind.value:9} {asset.level.value:13} {asset.status.value:12} {holder}")
        count += 1
    click.echo(f"{count} items")


@assets_group.command("overdue")
@click.option("--record", is_flag=True, help="Record one `overdue` security event per newly overdue checkout.")
@with_appcontext
def overdue_command(record):
    """List overdue checkouts; with --record (e.g. from cron) record each one once as a security event."""
    from registry.assets import services
    from registry.core.models import utcnow

    now = utcnow()
    rows = db.session.scalars(services.checkouts_query(_Console(), overdue=True, now=now)).all()
    for row in rows:
        click.echo(f"{row.asset.registry_no:18} {row.borrower.employee_no:10} due {row.due_at.isoformat(timespec='minutes')}")
    if record:
        reported = services.report_overdue(db.session, now=now)
        db.session.commit()
        click.echo(f"{len(reported)} newly reported")
    click.echo(f"{len(rows)} overdue")


class _Console:
    """The console reads every register."""

    person_id = None

    @staticmethod
    def has_role(*roles):
        return True
