"""Inventory and destruction rules (SPEC §4, DOMAIN R9 and R10), shared by pages, API and CLI.

Inventory: one open inventory per scope (an inventory of every room overlaps all others);
what is expected in a scope; what a scan means.

Destruction: the items must all exist and be available or missing (a checked-out item is
`asset_unavailable`, a destroyed one `asset_destroyed`); two distinct, active witnesses, neither
of them the performer (`witness_invalid`); an approved, unused destruction approval naming exactly
these items (`approval_required`), decided by someone who is not the performer or a witness
(`self_approval`).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from registry.assets.models import Asset, AssetStatus
from registry.core.errors import Conflict, violation
from registry.stocktake.models import Inventory, ScanOutcome

RUN_ROLES = ("officer",)          # start, scan, close, destroy (+ admin)
READ_ROLES = ("officer", "inspector")
DESTRUCTION_KIND = "destruction_denied"
# Outcomes that mean "the item is physically here"
PRESENT = (ScanOutcome.SEEN, ScanOutcome.WRONG_ROOM, ScanOutcome.REPEAT, ScanOutcome.ON_LOAN, ScanOutcome.FOUND,
           ScanOutcome.DESTROYED)


# ------------------------------------------------------------------ inventories

def scope_key(room_ids) -> str:
    """'all' for every room, else the sorted distinct room ids joined by commas."""
    ids = sorted({int(r) for r in (room_ids or [])})
    return ",".join(map(str, ids)) if ids else "all"


def scopes_overlap(a, b) -> bool:
    """Two scopes overlap when either covers every room or they share a room."""
    a, b = set(a or []), set(b or [])
    return not a or not b or bool(a & b)


def check_no_overlap(open_inventories, room_ids) -> None:
    """Refuse a second open inventory over the same rooms (409 `inventory_open`)."""
    for inv in open_inventories:
        if scopes_overlap(inv.room_ids, room_ids):
            raise Conflict(_l("Inventory #%(id)d of these rooms is still open; close it first.", id=inv.id),
                           code="inventory_open", details={"inventory_id": inv.id})


def check_open(inventory: Inventory) -> None:
    if not inventory.is_open:
        raise Conflict(_l("This inventory is closed."), code="inventory_closed",
                       details={"inventory_id": inventory.id})


def in_scope(inventory: Inventory, room_id: int | None) -> bool:
    return inventory.covers_all or (room_id is not None and room_id in (inventory.room_ids or []))


def expected_condition(inventory: Inventory):
    """SQL: the items expected on the shelves — available, with their home room in scope (any item
    for an inventory of every room). Checked-out items are accounted for by their open checkout."""
    cond = Asset.status == AssetStatus.AVAILABLE
    if not inventory.covers_all:
        cond = sa.and_(cond, Asset.room_id.in_(inventory.room_ids))
    return cond


def on_loan_condition(inventory: Inventory):
    """SQL: items of the scope that are out on loan (listed apart, never missing)."""
    cond = Asset.status == AssetStatus.CHECKED_OUT
    if not inventory.covers_all:
        cond = sa.and_(cond, Asset.room_id.in_(inventory.room_ids))
    return cond


def classify(asset: Asset, room_id: int | None, *, already_here: bool) -> ScanOutcome:
    """What a scan of a (current) asset label in `room_id` means."""
    if asset.status == AssetStatus.DESTROYED:
        return ScanOutcome.DESTROYED
    if asset.status == AssetStatus.CHECKED_OUT:
        return ScanOutcome.ON_LOAN
    if asset.status == AssetStatus.MISSING:
        return ScanOutcome.FOUND
    if already_here:
        return ScanOutcome.REPEAT
    if asset.room_id is not None and asset.room_id == room_id:
        return ScanOutcome.SEEN
    return ScanOutcome.WRONG_ROOM


# ------------------------------------------------------------------ destruction

def _deny(code, assets, message=None, **details):
    return violation(code, message, kind=DESTRUCTION_KIND, subject=assets[0] if assets else None, **details)


def check_items(assets: list[Asset]) -> None:
    """Every item must still exist on the books and be in the store: available or missing."""
    for asset in assets:
        if asset.status == AssetStatus.DESTROYED:
            raise _deny("asset_destroyed", [asset], registry_no=asset.registry_no)
        if asset.status not in (AssetStatus.AVAILABLE, AssetStatus.MISSING):
            raise _deny("asset_unavailable", [asset], registry_no=asset.registry_no, status=asset.status.value)


def check_witnesses(assets, performer, witnesses: list) -> None:
    """Two distinct witnesses (监销人), neither the performer, all active persons."""
    ids = [w.id for w in witnesses]
    if len(set(ids)) < 2 or len(set(ids)) != len(ids):
        raise _deny("witness_invalid", assets, witnesses=ids, reason_detail="two_distinct")
    if performer is not None and performer.id in ids:
        raise _deny("witness_invalid", assets, witnesses=ids, performer=performer.id, reason_detail="performer")
    inactive = [w.id for w in witnesses if not w.is_active]
    if inactive:
        raise _deny("witness_invalid", assets, witnesses=ids, inactive=inactive, reason_detail="inactive")


def check_approval(session, approval, assets: list[Asset], performer, witnesses: list):
    """An approved, unused destruction approval for exactly these items, independently decided;
    returns it. The decider may be neither the performer nor a witness (`self_approval`)."""
    from registry.approvals import rules as approval_rules
    from registry.approvals import services as approvals

    subject = {"asset_ids": sorted(a.id for a in assets)}
    if approval is None:
        approval = approvals.find_usable(session, "destruction", **subject)
        if approval is None:
            raise _deny("approval_required", assets, _l("An approved destruction approval for exactly these items "
                                                        "is required."), asset_ids=subject["asset_ids"])
    elif not approval_rules.usable(session, approval, "destruction", subject):
        raise _deny("approval_required", assets, _l("The approval given is not an approved, unused destruction "
                                                    "approval for exactly these items."),
                    approval_id=approval.id, asset_ids=subject["asset_ids"])
    decider_person = getattr(approval.decider, "person_id", None)
    involved = {performer.id} | {w.id for w in witnesses}
    if decider_person is not None and decider_person in involved:
        raise _deny("self_approval", assets, approval_id=approval.id)
    return approval
