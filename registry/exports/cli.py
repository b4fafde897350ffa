"""`flask export REGISTER --out FILE` and `flask import REGISTER FILE [--dry-run]`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from registry.core import context
from registry.core.errors import DomainError
from registry.extensions import db


@click.command("export")
@click.argument("register")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="The .xlsx file to write.")
@click.option("--lang", default="zh_CN", show_default=True, help="zh_CN or en.")
@click.option("--from", "start", help="Start of the period (YYYY-MM-DD, unit time zone).")
@click.option("--to", "end", help="End of the period, inclusive (YYYY-MM-DD).")
@with_appcontext
def export_command(register, out, lang, start, end):
    """Export REGISTER (or inspection-pack) to an Excel file; the export is recorded in the audit trail.

    Runs in constant memory whatever the register's length (rows are streamed)."""
    from registry.exports import jobs
    from registry.exports import registers as regs

    if register != regs.PACK and regs.get(register) is None:
        names = ", ".join(r.name for r in regs.available())
        raise click.ClickException(f"unknown or unavailable register {register!r}; one of: {names}, {regs.PACK}")
    try:
        lang, filters = jobs.parse_args({"lang": lang, "from": start, "to": end})
    except DomainError as exc:
        raise click.ClickException("; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.details.items()))
    context.set_request_facts(None, "cli")
    req = jobs.ExportRequest(target=register, lang=lang, start=filters.start, end=filters.end)
    target = Path(out).resolve()
    last = [time.monotonic()]

    def progress(n):
        if time.monotonic() - last[0] >= 10:
            last[0] = time.monotonic()
            click.echo(f"  {n} rows…", err=True)

    result = jobs.export_now(db.session, req, target.parent, progress=progress)
    os.replace(result.path, target)
    click.echo(f"{result.rows} rows written to {target}")
    click.echo(f"sha256 {result.sha256}  audit seq {result.audit_seq}  checkpoint {result.checkpoint}")


@click.command("import")
@click.argument("register")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate only; change nothing.")
@with_appcontext
def import_command(register, file, dry_run):
    """Import new records of REGISTER from an Excel FILE (an export or the template); all or nothing.

    Exits with status 1 and lists every error (row, column, message) when a row is not valid."""
    from registry.exports import imports
    from registry.exports import registers as regs
    from registry.exports.safety import CLI_MAX_ROWS

    reg = regs.get(register)
    if reg is None or reg.importer is None:
        raise click.ClickException(f"{register!r} cannot be imported; one of: "
                                   + ", ".join(n for n in regs.IMPORTABLE if regs.get(n)))
    path = Path(file)
    context.set_request_facts(None, "cli")
    try:
        result = imports.import_file(db.session, reg, path, actor=None, dry_run=dry_run, filename=path.name,
                                     max_rows=int(current_app.config.get("CLI_IMPORT_MAX_ROWS", CLI_MAX_ROWS)))
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message))
    for err in result.errors:
        click.echo(f"row {err['row']}, {err.get('column') or err['field']}: {err['message']}", err=True)
    if not result.ok:
        db.session.rollback()
        raise click.ClickException(f"{len(result.errors)} errors; nothing was imported")
    if dry_run:
        click.echo(f"dry run: {result.rows} rows valid; nothing was changed")
        return
    db.session.commit()
    click.echo(f"{result.created} records created")
