"""Core commands: audit verify / checkpoint, demo data."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from registry.core import audit
from registry.extensions import db


@click.group("audit")
def audit_group():
    """The tamper-evident audit trail."""


@audit_group.command("verify")
@click.option("--checkpoint", help="SEQ:HASH from an earlier `audit checkpoint` or an export cover sheet.")
@with_appcontext
def audit_verify(checkpoint):
    """Recompute the hash chain; exit 1 and name the first bad sequence number if broken."""
    cp = None
    if checkpoint:
        try:
            cp = audit.parse_checkpoint(checkpoint)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--checkpoint") from None
    result = audit.verify(db.session, cp)
    if result.ok:
        click.echo(f"ok: {result.events} events, head {result.head_seq}:{result.head_hash}")
        return
    from registry.core.db import begin_write
    from registry.core.security_events import record_security_event

    db.session.rollback()
    begin_write(db.session)
    record_security_event(db.session, kind="audit_chain_broken", reason=result.problem, subject_type="audit_events",
                          subject_label=f"seq {result.first_bad_seq}", details=result.as_json())
    db.session.commit()
    click.echo(f"BROKEN: first bad sequence {result.first_bad_seq} ({result.problem})", err=True)
    raise SystemExit(1)


@audit_group.command("checkpoint")
@with_appcontext
def audit_checkpoint():
    """Print the chain head as SEQ:HASH and the time; keep it outside the system."""
    from registry.core.models import utcnow

    click.echo(f"{audit.checkpoint_text(db.session)} {utcnow().isoformat(timespec='seconds')}")


@click.command("demo")
@click.option("--force", is_flag=True, help="Load even if people are registered already.")
@with_appcontext
def demo_command(force):
    """Load realistic bilingual demo data (people, rooms, users of every role, and more)."""
    from registry.core.demo import DEMO_PASSWORD, load_demo
    from registry.people.models import Person

    if not force and db.session.scalar(sa.select(sa.func.count(Person.id))):
        raise click.ClickException("People are registered already; demo data is for an empty registry (--force to add anyway).")
    ctx = load_demo(db.session)
    db.session.commit()
    click.echo("Demo data loaded. Sign in with one of these accounts (password: %s):" % DEMO_PASSWORD)
    for username, user in ctx["users"].items():
        click.echo(f"  {username:10} {user.role.value}")
