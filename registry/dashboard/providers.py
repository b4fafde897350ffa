"""Dashboard tiles and panels (SPEC §7), registered with core.dashboard. Role-aware: officers, approvers,
inspectors and administrators see the whole unit; staff see their own reminders and commitment letter
(their loans come from custody's tiles); guards are sent on to the guard station."""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import SimpleNamespace

from flask import current_app, url_for
from flask_babel import format_date, gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError

from registry.core.dashboard import PANEL_PROVIDERS, TILE_PROVIDERS, Panel, Tile
from registry.core.models import Level
from registry.core.settings import get_settings
from registry.dashboard import figures
from registry.dashboard.charts import Bar, bar_chart, grouped_column_chart
from registry.extensions import db


@dataclass
class DashTile(Tile):
    """A tile with a stable key (used by the JSON endpoint and the tests)."""

    key: str = ""


# Short labels of reason codes for the refusals chart (the full messages are in core.errors.REASONS).
REASON_LABELS = {
    "asset_unavailable": _l("Item not available"), "borrower_inactive": _l("Borrower not active"),
    "clearance_insufficient": _l("Clearance too low"), "commitment_missing": _l("No valid commitment letter"),
    "not_in_scope": _l("Outside need-to-know"), "approval_required": _l("Approval missing"),
    "foreign_national": _l("Foreign national"), "due_too_late": _l("Due date too late"),
    "self_checkout_not_allowed": _l("Self-checkout not allowed"), "device_level_too_low": _l("Computer level too low"),
    "downgrade_refused": _l("Level downgrade"), "holds_items": _l("Still holds items"),
    "inspection_required": _l("Inspection missing"), "self_approval": _l("Self-approval"),
    "project_review_pending": _l("Project review pending"), "agreement_missing": _l("No agreement"),
    "witness_invalid": _l("Witnesses invalid"), "visitor_blocked": _l("Visitor blocked"),
    "outside_visit_window": _l("Outside visit dates"), "room_forbidden_for_foreigners": _l("Room closed to foreigners"),
    "no_permission": _l("No area permission"), "escort_required": _l("No escort"),
    "escort_not_eligible": _l("Escort not eligible"), "escort_group_full": _l("Escort group full"),
    "already_inside": _l("Already inside"), "not_inside": _l("Not inside"), "label_revoked": _l("Revoked label"),
    "approval_invalid": _l("Approval not valid"), "not_checked_out": _l("Not checked out"),
    "asset_destroyed": _l("Item destroyed"), "invalid_transition": _l("State change not allowed"),
    "secrecy_review_missing": _l("No secrecy review"), "treatment_required": _l("Treatment missing"),
}


def _url(endpoint: str, **values) -> str | None:
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _day_label(day) -> str:
    return format_date(day, "MM-dd")


# ------------------------------------------------------------------ unit-wide figures, cached per process

CACHE_KEY = "registry_dashboard_cache"


def unit_wide(name: str, compute, *key):
    """A figure of the whole unit: the same for every user shown it (officers, approvers, inspectors,
    administrators: only they get the unit-wide tiles and panels below; a staff member's own figures
    never come through here). Kept per process for DASHBOARD_CACHE_SECONDS (0: computed every time),
    so that a dashboard at full size does not count 100,000 items and a million checkouts on every
    view (issue 8). `key` holds everything else the figure depends on (the day, the time zone)."""
    ttl = float(current_app.config.get("DASHBOARD_CACHE_SECONDS", 0) or 0)
    if ttl <= 0:
        return compute()
    cache = current_app.extensions.setdefault(CACHE_KEY, {})
    k = (name, *key)
    now = time.monotonic()
    hit = cache.get(k)
    if hit is None or hit[0] <= now:
        if len(cache) > 200:  # old days and zones: never more than a page of entries
            cache.clear()
        hit = (now + ttl, compute())
        cache[k] = hit
    return hit[1]


def _plain(rows, fields):
    """ORM rows as plain read-only records with just what the template shows (safe to keep across requests)."""
    out = []
    for row in rows:
        values = {}
        for f in fields:
            head, _, rest = f.partition(".")
            if rest:
                sub = getattr(row, head)
                values[head] = None if sub is None else SimpleNamespace(**{rest: getattr(sub, rest)})
            else:
                values[f] = getattr(row, f)
        out.append(SimpleNamespace(**values))
    return tuple(out)


# ------------------------------------------------------------------ tiles
# Custody provides the item counts, overdue checkouts, pending approvals and a staff member's own loans;
# visits provides who is inside, permissions ending soon and the block list; core the security events
# of the last 7 days. These tiles add the rest of SPEC §7 without repeating them.

def tiles(user) -> list[Tile]:
    """Tiles for the user's role (see the module docstring)."""
    settings = get_settings()
    now, today, _tz = figures.now_and_today(settings)
    session = db.session
    if user.role.value == "guard":
        return []
    if not figures.sees_all(user):
        return _staff_tiles(session, user, now, today)
    letters = unit_wide("commitments", lambda: figures.commitment_counts(session, today, 30), today)
    bad_letters = letters["expired"] + letters["missing"]
    out: list[Tile] = [
        DashTile(_l("Commitment letters to renew"), bad_letters + letters["expiring"],
                 _url("people.commitments", within=30), warn=bool(bad_letters), key="commitments",
                 hint=_("%(expired)d expired · %(missing)d not signed · %(expiring)d within 30 days",
                        expired=letters["expired"], missing=letters["missing"], expiring=letters["expiring"])),
        DashTile(_l("Secrecy periods ending within 90 days"),
                 unit_wide("declassify_count", lambda: figures.declassifying_soon(session, today, 90), today),
                 _url("assets.index"), key="declassify"),
    ]
    if user.has_role("officer", "inspector"):
        out.append(DashTile(_l("Open inventories"), unit_wide("inventories", lambda: figures.open_inventories(session)),
                            _url("stocktake.inventories"), key="inventories"))
    out.append(DashTile(_l("Provisions in progress"),
                        unit_wide("provisions", lambda: figures.provisions_in_progress(session)),
                        _url("provisions.index"), key="provisions"))
    return out


def _staff_tiles(session, user, now, today) -> list[Tile]:
    """A staff member's own reminders to acknowledge and commitment letter (custody shows their loans)."""
    reminders = figures.my_unacknowledged_reminders(session, user)
    out: list[Tile] = [
        DashTile(_l("Reminders to acknowledge"), reminders, _url("people.my_reminders"), warn=bool(reminders),
                 key="my_reminders"),
    ]
    person = getattr(user, "person", None)
    if person is not None and person.needs_commitment:
        state = person.commitment_state(today, 30)
        if state == "missing":
            value, hint = _("not signed"), ""
        elif person.commitment_expires_on is None:
            value, hint = _("valid"), ""
        elif state == "expired":
            value, hint = _("expired"), format_date(person.commitment_expires_on, "yyyy-MM-dd")
        else:
            value = (person.commitment_expires_on - today).days
            hint = _("days left, until %(date)s", date=format_date(person.commitment_expires_on, "yyyy-MM-dd"))
        out.append(DashTile(_l("My commitment letter"), value, None, warn=state in ("missing", "expired", "expiring"),
                            hint=hint, key="my_commitment"))
    return out


# ------------------------------------------------------------------ panels

def panels(user) -> list[Panel]:
    """Charts and lists for officers, approvers, inspectors and administrators (staff see their loans
    in custody's tiles; guards have the guard station)."""
    if not figures.sees_all(user):
        return []
    settings = get_settings()
    now, today, tz = figures.now_and_today(settings)
    session = db.session
    home = settings["home_country"]
    zone_key = str(getattr(tz, "key", tz))
    return [
        Panel(_l("Items by kind, level and status"), "dashboard/_charts.html",
              {"charts": _item_charts(session, user, home)}, order=10),
        Panel(_l("Checkouts and visits per day, last 30 days"), "dashboard/_chart.html",
              {"chart": _activity_chart(session, now, tz, today, zone_key)}, order=20),
        Panel(_l("Refusals, last 7 days, by reason"), "dashboard/_chart.html",
              {"chart": _refusal_chart(session, now), "link": _url("core.security_events")}, order=40),
        Panel(_l("Expiring soon"), "dashboard/_expiring.html", {
            "letters": unit_wide("letters", lambda: _plain(figures.commitments_expiring(session, today, 30, 8), (
                "id", "name", "commitment_signed_on", "commitment_expires_on")), today),
            "today": today,
            "permissions": unit_wide("permissions", lambda: _plain(figures.permissions_expiring(session, now, 7, 8), (
                "visitor_id", "room_id", "valid_until", "visitor.name", "room.code"))),
            "declassify": unit_wide("declassify", lambda: _plain(figures.declassifying_soon(session, today, 90, 8), (
                "registry_no", "level", "declassify_on")), today)}, order=50),
    ]


def _item_charts(session, user, home) -> list:
    from registry.assets.models import AssetKind, AssetStatus

    def counts(column):
        if figures.sees_all(user):  # the whole register, whoever of these roles asks
            return unit_wide("assets_by", lambda: figures.asset_counts(session, user, home, column), column)
        return figures.asset_counts(session, user, home, column)

    kinds, levels, statuses = counts("kind"), counts("level"), counts("status")
    empty = _("Nothing registered yet")
    return [
        bar_chart([Bar(str(k.label), kinds.get(k.value, 0), "chart-bar", _url("assets.index", kind=k.value))
                   for k in AssetKind], title=_("Items by kind"), empty_text=empty),
        bar_chart([Bar(str(lv.label), levels.get(lv.value, 0), f"chart-bar chart-lv-{lv.value}",
                       _url("assets.index", level=lv.value)) for lv in reversed(list(Level))],
                  title=_("Items by level"), empty_text=empty),
        bar_chart([Bar(str(s.label), statuses.get(s.value, 0), f"chart-bar chart-st-{s.value}",
                       _url("assets.index", status=s.value)) for s in AssetStatus],
                  title=_("Items by status"), empty_text=empty),
    ]


def _activity_chart(session, now, tz, today, zone_key):
    checkouts = unit_wide("checkouts_per_day", lambda: figures.checkouts_per_day(session, now, tz, 30), today, zone_key)
    visits = unit_wide("visits_per_day", lambda: figures.visits_per_day(session, now, tz, 30), today, zone_key)
    return grouped_column_chart(
        [_day_label(day) for day, _n in checkouts],
        [(_("Checkouts"), "chart-bar", [n for _d, n in checkouts]), (_("Visits"), "chart-bar-alt", [n for _d, n in visits])],
        title=_("Checkouts and visits per day, last 30 days"), label_every=5, empty_text=_("None in this period"))


def _refusal_chart(session, now):
    rows = unit_wide("refusals", lambda: figures.refusals_by_reason(session, now, 7))[:10]
    return bar_chart([Bar(str(REASON_LABELS.get(code, code)), n, "chart-bar chart-bar-alt") for code, n in rows],
                     title=_("Refusals, last 7 days, by reason"), width=560, empty_text=_("No refusals"))


def register() -> None:
    if tiles not in TILE_PROVIDERS:
        TILE_PROVIDERS.append(tiles)
    if panels not in PANEL_PROVIDERS:
        PANEL_PROVIDERS.append(panels)


register()
