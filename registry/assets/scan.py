"""Scanning: turn what a camera or a keyboard-wedge scanner produced into an internal URL.

Input is untrusted text: length-limited, never followed, never rendered raw. It may be a label
URL, '/s/<code>', a bare code or a registry number. Only paths built with url_for() are ever
redirected to. Visitors' badges resolve through SCAN_TARGETS["visitor"], which the visits
domain may replace.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import load_only

from flask import url_for
from werkzeug.routing import BuildError

from registry.assets import rules
from registry.assets.models import Asset
from registry.core.labels import CODE_RE, Label, extract_code, find_label
from registry.core.security_events import record_security_event

ROOM_READERS = ("officer", "approver", "inspector", "guard")
VISITOR_READERS = ("officer", "approver", "inspector", "guard")


def _asset_url(session, user, target_id: int, home_country: str) -> str | None:
    asset = session.get(Asset, target_id)
    if asset is None or not rules.can_view_asset(user, asset, home_country):
        return None
    return url_for("assets.act", asset_id=asset.id)


def _room_url(session, user, target_id: int, home_country: str) -> str | None:
    if not user.has_role(*ROOM_READERS):
        return None
    try:
        return url_for("areas.show", room_id=target_id)
    except BuildError:
        return None


def _visitor_url(session, user, target_id: int, home_country: str) -> str | None:
    if not user.has_role(*VISITOR_READERS):
        return None
    try:
        return url_for("visits.visitor_show", visitor_id=target_id)
    except BuildError:
        return None


# target type -> fn(session, user, target_id, home_country) -> internal URL, or None if not allowed
SCAN_TARGETS: dict[str, object] = {"asset": _asset_url, "room": _room_url, "visitor": _visitor_url}


@dataclass
class Resolution:
    """outcome: 'ok' (url set), 'revoked' (allowed to know), or 'unknown' (unknown, or not allowed)."""

    outcome: str
    url: str | None = None
    label: Label | None = None
    target_type: str | None = None
    target_id: int | None = None


# The common scan: the item's current code. assets.label_code holds exactly the current (never a
# revoked) code of each item, so one indexed statement resolves it (issue 8: a scan was a label
# lookup, then the asset by id); room and badge codes and revoked codes take the labels table.
# Only what the visibility rule reads is loaded (any other column would load on first use): fewer
# columns to describe, convert and build into the object on every scan.
_ASSET_BY_CURRENT_CODE = (sa.select(Asset).where(Asset.label_code == sa.bindparam("code"))
                          .options(load_only(Asset.id, Asset.custodian_id, Asset.level, Asset.status)))


def resolve_code(session, user, code: str, *, home_country: str = "CN") -> Resolution:
    """Resolve a label code for a signed-in user. A revoked code is reported as revoked only to a
    user allowed to see its target; to anyone else it is as unknown as an unknown code."""
    if SCAN_TARGETS.get("asset") is _asset_url and code and CODE_RE.match(code):
        asset = session.scalar(_ASSET_BY_CURRENT_CODE, {"code": code})
        if asset is not None and rules.can_view_asset(user, asset, home_country):
            return Resolution("ok", url=url_for("assets.act", asset_id=asset.id), target_type="asset",
                              target_id=asset.id)
    label = find_label(session, code)
    if label is None:
        return Resolution("unknown")
    resolver = SCAN_TARGETS.get(label.target_type)
    url = resolver(session, user, label.target_id, home_country) if resolver else None
    if url is None:
        return Resolution("unknown", label=label, target_type=label.target_type, target_id=label.target_id)
    if label.is_revoked:
        return Resolution("revoked", label=label, target_type=label.target_type, target_id=label.target_id)
    return Resolution("ok", url=url, label=label, target_type=label.target_type, target_id=label.target_id)


def resolve_input(session, user, text: str, *, base_url: str, home_country: str = "CN") -> Resolution:
    """Resolve scanner or keyboard input: a label URL, a bare code, or a registry number."""
    text = (text or "").strip()[:300]
    code = extract_code(text, base_url)
    if code is not None:
        found = resolve_code(session, user, code, home_country=home_country)
        if found.outcome != "unknown" or found.label is not None:
            return found
    from registry.assets.services import get_by_registry_no

    asset = get_by_registry_no(session, text) if len(text) <= 40 else None
    if asset is not None and rules.can_view_asset(user, asset, home_country):
        return Resolution("ok", url=url_for("assets.act", asset_id=asset.id), target_type="asset", target_id=asset.id)
    return Resolution("unknown")


def record_revoked_scan(session, user, resolution: Resolution) -> None:
    """Record `revoked_label_scanned` (the caller made the transaction writable: begin_write)."""
    label = resolution.label
    subject_label = None
    if label.target_type == "asset":
        asset = session.get(Asset, label.target_id)
        subject_label = asset.registry_no if asset else None
    record_security_event(session, kind="revoked_label_scanned", actor=user, reason="label_revoked",
                          subject_type=f"{label.target_type}s" if label.target_type != "asset" else "assets",
                          subject_id=label.target_id, subject_label=subject_label,
                          details={"code": f"{label.code[:4]}…", "revoked_at": label.revoked_at,
                                   "target_type": label.target_type})
