"""Personnel commands: `people list`, `people leave`, `people commitments`, `people finish-decommissioning`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from registry.core.errors import DomainError, RuleViolation
from registry.core.models import Category
from registry.extensions import db
from registry.people import services
from registry.people.models import PersonStatus


def fail(exc: DomainError):
    """Roll back, record a refusal as a security event, and stop with the reason (exit 1)."""
    db.session.rollback()
    if isinstance(exc, RuleViolation):
        from registry.core.security_events import record_refusal

        record_refusal(db.session, exc, actor=None)
    details = "; ".join(f"{k}: {v if not isinstance(v, list) else ', '.join(map(str, v))}"
                        for k, v in (exc.details or {}).items())
    raise click.ClickException(f"{exc.message} [{exc.code}] {details}".strip())


def _home() -> str:
    from registry.core.settings import get_settings

    return get_settings()["home_country"]


@click.group("people")
def people_group():
    """Personnel with secrecy duties (涉密人员)."""


@people_group.command("list")
@click.option("--status", type=click.Choice(PersonStatus.values()), help="Only this status.")
@click.option("--category", type=click.Choice(Category.values()), help="Only this category.")
@click.option("--department", help="Only this department.")
@click.option("-q", "--search", "q", help="Search name, employee number, department, position.")
@with_appcontext
def list_people(status, category, department, q):
    """List people: employee number, name, department, category, clearance, status, commitment letter."""
    stmt = services.people_query(q=q, department=department, category=category, status=status, sort="employee_no")
    home = _home()
    today = services.unit_today()
    rows = db.session.scalars(stmt).all()
    for p in rows:
        letter = p.commitment_expires_on.isoformat() if p.commitment_expires_on else "-"
        state = p.commitment_state(today)
        extra = f" until {p.decommission_until.isoformat()}" if p.decommission_until else ""
        click.echo(f"{p.employee_no:10} {p.name:16} {p.department:14} {p.category.value:10} "
                   f"{p.clearance(home).value:13} {p.status.value}{extra}  letter {letter} ({state})")
    click.echo(f"{len(rows)} people")


@people_group.command("leave")
@click.argument("employee_no")
@click.option("--decommission-until", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="End of the decommissioning period (脱密期); without it the person is marked left.")
@click.option("--on", "left_on", type=click.DateTime(formats=["%Y-%m-%d"]), help="Date of leaving (default today).")
@with_appcontext
def leave(employee_no, decommission_until, left_on):
    """Take EMPLOYEE_NO off their post. Refused (holds_items) while items are checked out to them: 清退 first."""
    try:
        person = services.by_employee_no(db.session, employee_no)
        services.leave(db.session, person, actor=None, home_country=_home(), today=services.unit_today(),
                       left_on=left_on.date() if left_on else None,
                       decommission_until=decommission_until.date() if decommission_until else None)
    except DomainError as exc:
        fail(exc)
    db.session.commit()
    until = f" until {person.decommission_until.isoformat()}" if person.status == PersonStatus.DECOMMISSIONING else ""
    click.echo(f"{person.employee_no} {person.name}: {person.status.value}{until}")


@people_group.command("commitments")
@click.option("--within", type=click.IntRange(0, 3650), default=30, show_default=True, help="Days ahead.")
@with_appcontext
def commitments(within):
    """Commitment letters (保密承诺书) missing, expired or expiring within --within days."""
    today = services.unit_today()
    rows = db.session.scalars(services.commitments_query(today=today, within_days=within)).all()
    for p in rows:
        info = services.serialize_commitment(p, today, within)
        click.echo(f"{p.employee_no:10} {p.name:16} {info['state']:9} "
                   f"{info['commitment_expires_on'] or '-':10} {'' if info['days_left'] is None else info['days_left']}")
    click.echo(f"{len(rows)} letters need attention")


@people_group.command("finish-decommissioning")
@with_appcontext
def finish_decommissioning():
    """Mark people whose decommissioning period has ended as left (run daily)."""
    try:
        done = services.finish_decommissioning(db.session, actor=None, today=services.unit_today(), home_country=_home())
    except DomainError as exc:
        fail(exc)
    db.session.commit()
    for p in done:
        click.echo(f"{p.employee_no} {p.name}: left")
    click.echo(f"{len(done)} decommissioning periods ended")



