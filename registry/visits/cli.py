"""Guard commands: `flask visits enter | exit | inside` (the same services as the guard station)."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from registry.core.errors import DomainError, RuleViolation
from registry.core.security_events import record_refusal, record_security_event
from registry.core.settings import get_settings
from registry.extensions import db
from registry.visits import services
from registry.visits.forms import parse_devices
from registry.visits.models import DeviceDisposition, DeviceKind


def _fail(exc: DomainError, actor=None):
    """Record a refusal (security event, own transaction) and stop with its reason code."""
    if isinstance(exc, RuleViolation):
        record_refusal(db.session, exc, actor=actor)
    else:
        db.session.rollback()
    details = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in (exc.details or {}).items()
                        if isinstance(v, (list, tuple)))
    raise click.ClickException(f"{exc.code}: {exc.message} {details}".strip())


def _actor(username):
    if not username:
        return None
    from registry.auth.models import User

    user = db.session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.active or not user.has_role("guard", "officer"):
        raise click.BadParameter("not an active guard or officer account", param_hint="--by")
    return user


def _visitor(text, actor):
    """BADGE_OR_ID: a visitor id, a badge code or badge URL, or an exact document number."""
    visitor, revoked, candidates = services.find_visitors(db.session, text, base_url=get_settings()["base_url"])
    if revoked is not None:
        record_security_event(db.session, kind="revoked_label_scanned", actor=actor, reason="label_revoked",
                              subject_type="labels", subject_id=revoked.id,
                              subject_label=f"visitor badge …{revoked.code[-4:]}",
                              details={"target_type": "visitor", "target_id": revoked.target_id, "where": "cli"})
        db.session.commit()
        raise click.ClickException("label_revoked: this badge has been revoked")
    if visitor is None:
        if candidates:
            names = ", ".join(f"#{v.id} {v.name}" for v in candidates[:10])
            raise click.ClickException(f"several visitors match: {names}")
        raise click.ClickException("no visitor matches")
    return visitor


def _devices(values):
    out = []
    for value in values:
        kind, _, disposition = value.partition(":")
        out.append({"kind": kind.strip(), "disposition": (disposition or "deposited").strip()})
    return parse_devices(out)


@click.group("visits")
def visits_group():
    """Visitor entries and exits (the guard station from a terminal)."""


@visits_group.command("enter")
@click.argument("badge_or_id")
@click.option("--room", "room_code", required=True, help="Room code, e.g. HYS-302.")
@click.option("--escort", "escort_no", help="Employee number of the escort.")
@click.option("--device", "devices", multiple=True, metavar="KIND[:DISPOSITION]",
              help=f"Declared device, repeatable. KIND: {', '.join(DeviceKind.values())}; "
                   f"DISPOSITION: {', '.join(DeviceDisposition.values())} (default deposited).")
@click.option("--by", "username", help="The guard's user name (recorded as who logged the entry).")
@with_appcontext
def enter_command(badge_or_id, room_code, escort_no, devices, username):
    """Log a visitor's entry into a room; every rule of the guard station applies, and a refusal
    is recorded as a security event and reported with its reason code (exit status 1)."""
    actor = _actor(username)
    try:
        visitor = _visitor(badge_or_id, actor)
        room = services.find_room_by_code(db.session, room_code)
        escort = services.find_person_by_employee_no(db.session, escort_no) if escort_no else None
        visit = services.enter(db.session, visitor, room, escort=escort, devices=_devices(devices), actor=actor)
    except DomainError as exc:
        _fail(exc, actor)
    db.session.commit()
    escort_text = f" with {visit.escort.name} ({visit.escort.employee_no})" if visit.escort else ""
    click.echo(f"entered: visit #{visit.id} {visitor.name} -> {room.code}{escort_text}")


@visits_group.command("exit")
@click.argument("badge_or_id")
@click.option("--by", "username", help="The guard's user name.")
@with_appcontext
def exit_command(badge_or_id, username):
    """Log the exit of a visitor who is inside (not_inside when they are not)."""
    actor = _actor(username)
    try:
        visitor = _visitor(badge_or_id, actor)
        visit = services.exit_visitor(db.session, visitor, actor=actor)
    except DomainError as exc:
        _fail(exc, actor)
    db.session.commit()
    click.echo(f"exited: visit #{visit.id} {visitor.name} <- {visit.room.code}")
    for d in visit.deposited():
        click.echo(f"  return deposited device: {d['kind']} {d.get('note') or ''}".rstrip())


@visits_group.command("inside")
@click.option("--room", "room_code", help="Only this room.")
@with_appcontext
def inside_command(room_code):
    """List who is inside now (room, visitor, escort, since)."""
    try:
        room = services.find_room_by_code(db.session, room_code) if room_code else None
    except DomainError as exc:
        _fail(exc)
    visits = services.inside_now(db.session, room.id if room else None)
    home, _tz = services.site()
    for v in visits:
        foreign = " [foreign]" if v.visitor.is_foreign(home) else ""
        escort = f"{v.escort.name} ({v.escort.employee_no})" if v.escort else "-"
        click.echo(f"{v.room.code}\t#{v.visitor.id} {v.visitor.name}{foreign}\t{escort}\t{v.entered_at.isoformat()}")
    click.echo(f"{len(visits)} inside")
