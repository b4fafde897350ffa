"""Core commands: audit verify / checkpoint, demo data."""

from __future__ import annotations

import os

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
    from registry.core.db import begin_read, reset_write_intent

    begin_read(db.session)  # a read: minutes at millions of events, and writers must not wait for it
    try:
        result = audit.verify(db.session, cp)
    finally:
        db.session.rollback()
        reset_write_intent()  # the read intent must not outlive the command (same thread: tests, shell)
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


@click.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Backup file to write.")
@with_appcontext
def backup_command(out):
    """Take an online, consistent backup (SQLite backup API; pg_dump for PostgreSQL)."""
    from flask import current_app

    from registry.core import backup
    from registry.core.db import begin_write

    engine = db.engine
    try:
        if engine.dialect.name == "postgresql":
            backup.pg_dump(current_app.config["SQLALCHEMY_DATABASE_URI"], out)
            events = revision = None
        else:
            backup.backup_sqlite(engine, out)
            events, revision = backup.inspect_sqlite_file(out, expected_revision=None)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    digest = backup.sha256_file(out)
    begin_write(db.session)
    audit.record(db.session, actor=None, action="backup.create",
                 data={"file": os.path.basename(out), "sha256": digest, "audit_events": events, "revision": revision})
    db.session.commit()
    click.echo(f"backup written: {out}\nsha256 {digest}\naudit events {events}, schema {revision}")


@click.command("restore")
@click.argument("backup_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def restore_command(backup_file, yes):
    """Validate a SQLite backup (integrity, schema version, audit chain), then restore it.

    Stop the application servers first. Nothing is changed unless every check passes.
    """
    from flask import current_app

    from registry.core import backup

    if db.engine.dialect.name == "postgresql":
        raise click.ClickException("PostgreSQL: restore with pg_restore --clean --no-owner -d DATABASE FILE "
                                   "(see README), then run `flask --app app audit verify`.")
    try:
        events, revision = backup.inspect_sqlite_file(backup_file,
                                                      expected_revision=backup.head_revision(current_app))
    except backup.BackupError as exc:
        raise click.ClickException(f"restore refused, nothing changed: {exc}") from None
    click.echo(f"backup ok: {events} audit events, schema {revision}, sha256 {backup.sha256_file(backup_file)}")
    if not yes and not click.confirm("Replace the live database with this backup?"):
        raise click.ClickException("cancelled, nothing changed")
    db.session.remove()
    backup.restore_sqlite(db.engine, backup_file)
    from registry.core.db import begin_write

    begin_write(db.session)
    audit.record(db.session, actor=None, action="backup.restore",
                 data={"file": os.path.basename(backup_file), "sha256": backup.sha256_file(backup_file)})
    db.session.commit()
    click.echo("restored; the restore itself is recorded in the audit trail")
