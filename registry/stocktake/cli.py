"""Inventory and destruction commands: `stocktake start|scan|status|close|list` and `stocktake destroy|destructions`."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from registry.core.errors import DomainError, ValidationFailed
from registry.extensions import db
from registry.people.cli import fail
from registry.stocktake import services
from registry.stocktake.models import DestructionMethod


def _room_ids(codes) -> list[int]:
    from registry.areas.models import Room

    ids = []
    for code in codes:
        room = db.session.scalar(sa.select(Room).where(sa.func.upper(Room.code) == code.strip().upper()))
        if room is None:
            raise ValidationFailed(details={"room": [f"no room with code {code}"]})
        ids.append(room.id)
    return ids


def _person_id(employee_no: str) -> int:
    from registry.people.services import by_employee_no

    return by_employee_no(db.session, employee_no).id


def _echo_result(result: dict) -> None:
    assets = services.assets_by_id(db.session, result.get("missing", []) + result.get("wrong_room", [])
                                   + result.get("out_on_loan", []) + result.get("found", []))
    click.echo(f"expected {result['expected']}, seen {result['seen']}")
    for key in ("missing", "wrong_room", "out_on_loan", "found"):
        numbers = " ".join(assets[i].registry_no for i in result.get(key, []) if i in assets)
        click.echo(f"{key:12} {len(result.get(key, [])):4}  {numbers}")
    for key in ("unknown", "revoked"):
        click.echo(f"{key:12} {len(result.get(key, [])):4}  {' '.join(result.get(key, []))}")


@click.group("stocktake")
def stocktake_group():
    """Inventories (清查) and destruction (销毁) of registered items."""


@stocktake_group.command("start")
@click.option("--room", "rooms", multiple=True, help="Room code in scope (repeat); none = every room.")
@click.option("--note", default="", help="A note, e.g. 'annual inventory'.")
@with_appcontext
def start(rooms, note):
    """Start an inventory of some rooms, or of every room; prints its id."""
    try:
        inv = services.start_inventory(db.session, _room_ids(rooms), actor=None, note=note)
    except DomainError as exc:
        fail(exc)
    db.session.commit()
    counts = services.live_counts(db.session, inv)
    click.echo(f"inventory #{inv.id} started: {counts['expected']} items expected")
    click.echo(str(inv.id))


@stocktake_group.command("scan")
@click.argument("inventory_id", type=int)
@click.argument("code")
@click.option("--room", required=True, help="Code of the room the item was found in.")
@with_appcontext
def scan(inventory_id, code, room):
    """Record one scan (label code, label URL or registry number) in an open inventory."""
    from registry.core.settings import get_settings

    try:
        inv = services.get_inventory(db.session, inventory_id)
        result = services.record_scan(db.session, inv, code, _room_ids([room])[0], actor=None,
                                      base_url=get_settings()["base_url"])
    except DomainError as exc:
        fail(exc)
    db.session.commit()
    s = result.scan
    click.echo(f"{s.outcome.value} {s.asset.registry_no if s.asset else s.code}")


@stocktake_group.command("status")
@click.argument("inventory_id", type=int)
@with_appcontext
def status(inventory_id):
    """Live counts of an inventory (and its result once closed)."""
    try:
        inv = services.get_inventory(db.session, inventory_id)
    except DomainError as exc:
        fail(exc)
    counts = services.live_counts(db.session, inv)
    click.echo(" ".join(f"{k} {v}" for k, v in counts.items()))
    if inv.result:
        _echo_result(inv.result)


@stocktake_group.command("close")
@click.argument("inventory_id", type=int)
@with_appcontext
def close(inventory_id):
    """Close an inventory: unseen expected items become missing (security event inventory_missing)."""
    try:
        inv = services.get_inventory(db.session, inventory_id)
        result = services.close_inventory(db.session, inv, actor=None)
    except DomainError as exc:
        fail(exc)
    db.session.commit()
    click.echo(f"inventory #{inventory_id} closed")
    _echo_result(result)


@stocktake_group.command("list")
@with_appcontext
def list_inventories():
    """List inventories, open ones first."""
    rows = db.session.scalars(services.inventories_query()).all()
    for inv in rows:
        state = f"closed {inv.closed_at:%Y-%m-%d}" if inv.closed_at else "open"
        scope = "all rooms" if inv.covers_all else f"{len(inv.room_ids)} rooms"
        missing = f" missing {len(inv.result['missing'])}" if inv.result else ""
        click.echo(f"#{inv.id:<5} {inv.started_at:%Y-%m-%d} {scope:10} {state}{missing}")
    click.echo(f"{len(rows)} inventories")


@stocktake_group.command("destroy")
@click.argument("registry_nos", nargs=-1, required=True)
@click.option("--method", required=True, type=click.Choice(DestructionMethod.values()))
@click.option("--on", "destroyed_on", type=click.DateTime(formats=["%Y-%m-%d"]), help="Date (default today).")
@click.option("--performer", required=True, help="Employee number of the person destroying the items.")
@click.option("--witness", "witnesses", multiple=True, required=True, help="Employee number of a witness (twice).")
@click.option("--approval", "approval_id", type=int, help="Approval id (default: the approval of exactly these items).")
@click.option("--place", default="", help="Where (销毁地点 or the destruction facility).")
@with_appcontext
def destroy(registry_nos, method, destroyed_on, performer, witnesses, approval_id, place):
    """Record the destruction of REGISTRY_NOS; the items become destroyed for good."""
    try:
        assets = services.assets_by_registry_no(db.session, registry_nos)
        record = services.record_destruction(db.session, {
            "asset_ids": [a.id for a in assets], "method": method,
            "destroyed_on": destroyed_on.date() if destroyed_on else None, "approval_id": approval_id,
            "performed_by": _person_id(performer), "witness_ids": [_person_id(w) for w in witnesses],
            "place": place}, actor=None)
    except DomainError as exc:
        fail(exc)
    db.session.commit()
    click.echo(f"destruction #{record.id}: {len(record.assets)} items destroyed on {record.destroyed_on.isoformat()}")


@stocktake_group.command("destructions")
@with_appcontext
def destructions():
    """List the destruction register."""
    rows = db.session.scalars(services.destructions_query()).all()
    for d in rows:
        click.echo(f"#{d.id:<5} {d.destroyed_on.isoformat()} {d.method.value:12} {len(d.assets):3} items  "
                   f"{' '.join(a.registry_no for a in d.assets[:5])}")
    click.echo(f"{len(rows)} destruction records")
