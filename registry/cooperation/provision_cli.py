"""Provision commands: `provisions list`, `provisions show ID`, `provisions provided ID [--on DATE]`."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from registry.cooperation import provision_rules as rules
from registry.cooperation import provision_services as services
from registry.cooperation.provision_models import ProvisionStatus
from registry.core.errors import DomainError
from registry.extensions import db
from registry.people.cli import fail


@click.group("provisions")
def provisions_group():
    """Provisions of material to foreign parties (对外提供资料)."""


@provisions_group.command("list")
@click.option("--status", type=click.Choice(ProvisionStatus.values()), help="Only this status.")
@click.option("--project", "project_id", type=int, help="Only this project id.")
@with_appcontext
def list_provisions(status, project_id):
    """List provisions with their status and supervision flags (missing steps)."""
    rows = db.session.scalars(services.provisions_query(status=status, project_id=project_id)).all()
    for p in rows:
        flags = ",".join(f.code for f in rules.supervision_flags(p)) or "complete"
        click.echo(f"#{p.id:<5} {p.effective_status.value:9} {p.level.value:12} {p.recipient_country} "
                   f"{p.recipient[:30]:30} {p.material[:40]:40} [{flags}]")
    click.echo(f"{len(rows)} provisions")


@provisions_group.command("show")
@click.argument("provision_id", type=int)
@with_appcontext
def show(provision_id):
    """Show one provision and each of its five steps."""
    try:
        p = services.get_provision(db.session, provision_id)
    except DomainError as exc:
        fail(exc)
    for key, value in services.serialize(p).items():
        click.echo(f"{key:20} {value if value not in (None, '') else '-'}")


@provisions_group.command("provided")
@click.argument("provision_id", type=int)
@click.option("--on", "provided_on", type=click.DateTime(formats=["%Y-%m-%d"]), help="Date handed over (default today).")
@with_appcontext
def provided(provision_id, provided_on):
    """Record that PROVISION_ID was handed over; refused until every step is complete."""
    try:
        p = services.get_provision(db.session, provision_id)
        services.mark_provided(db.session, p, actor=None, provided_on=provided_on.date() if provided_on else None)
    except DomainError as exc:
        fail(exc)
    db.session.commit()
    click.echo(f"provision #{p.id}: provided on {p.provided_on.isoformat()}")
