"""The navigation bar per role. Domains add entries here (endpoint, label, roles)."""

from __future__ import annotations

from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.routing import BuildError

ANY = ("*",)

# (endpoint, label, roles allowed; "*" = any signed-in user). Order is display order.
NAV_ITEMS: list[tuple[str, object, tuple[str, ...]]] = [
    ("core.dashboard", _l("Dashboard"), ANY),
    ("assets.scan", _l("Scan"), ("officer", "staff", "approver", "inspector")),
    ("assets.index", _l("Items"), ("officer", "approver", "inspector", "staff")),
    ("assets.checkouts", _l("Checkouts"), ("officer", "approver", "inspector", "staff")),
    ("approvals.inbox", _l("Approvals"), ("officer", "approver", "staff")),
    ("visits.guard", _l("Guard station"), ("guard", "officer")),
    ("visits.visitors", _l("Visitors"), ("officer", "inspector", "approver")),
    ("people.index", _l("People"), ("officer", "approver", "inspector")),
    ("areas.index", _l("Rooms"), ("officer", "approver", "inspector", "guard")),
    ("cooperation.projects", _l("Projects"), ("officer", "approver", "inspector")),
    ("provisions.index", _l("Provisions"), ("officer", "approver", "inspector")),
    ("stocktake.inventories", _l("Inventories"), ("officer", "inspector")),
    ("destructions.index", _l("Destruction"), ("officer", "inspector")),
    ("people.my_reminders", _l("My reminders"), ("staff",)),
    ("exports.index", _l("Registers"), ("officer", "inspector")),
    ("core.security_events", _l("Security events"), ("officer", "inspector")),
    ("core.audit", _l("Audit trail"), ("officer", "inspector")),
    ("admin.users", _l("Users"), ()),
    ("admin.settings", _l("Settings"), ()),
]


def navigation() -> list[tuple[str, str, bool]]:
    """(url, label, active) for the current user; entries whose blueprint is absent are skipped."""
    from flask import request

    if not current_user.is_authenticated:
        return []
    items = []
    for endpoint, label, roles in NAV_ITEMS:
        if roles != ANY and not current_user.has_role(*roles):
            continue
        try:
            url = url_for(endpoint)
        except BuildError:
            continue
        active = request.endpoint == endpoint or (request.endpoint or "").split(".")[0] == endpoint.split(".")[0] \
            and endpoint.split(".")[0] not in ("core", "admin", "assets", "visits")
        items.append((url, label, request.endpoint == endpoint or active))
    return items
