"""The dashboard's figures (SPEC §7), read from every domain's models. Pure queries: nothing is written.

Each function takes the session and what it needs (a user for role-limited figures, `now`), so that
the tiles, the charts and the JSON endpoint show the same numbers.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from registry.core.models import Level, utcnow

FULL_VIEW = ("officer", "approver", "inspector")  # + admin


def zone(settings: dict) -> ZoneInfo:
    try:
        return ZoneInfo(settings.get("timezone") or "UTC")
    except Exception:
        return ZoneInfo("UTC")


def sees_all(user) -> bool:
    return user is not None and user.has_role(*FULL_VIEW)


# ------------------------------------------------------------------ items

def _visible(stmt, user, home: str):
    from registry.assets.rules import visible_filter

    if user is not None and not sees_all(user):
        cond = visible_filter(user, home)
        if cond is not None:
            stmt = stmt.where(cond)
    return stmt


def asset_counts(session, user, home: str, column: str) -> dict[str, int]:
    """Items the user may see, counted by `kind`, `level` or `status` (destroyed ones only by status)."""
    from registry.assets.models import Asset, AssetStatus

    col = getattr(Asset, column)
    stmt = sa.select(col, sa.func.count()).select_from(Asset).group_by(col)  # count(*): read from the index alone
    if column != "status":
        stmt = stmt.where(Asset.status != AssetStatus.DESTROYED)
    stmt = _visible(stmt, user, home)
    return {getattr(k, "value", k): n for k, n in session.execute(stmt)}


def declassifying_soon(session, today: date, days: int = 90, limit: int | None = None):
    """Items whose secrecy period ends within `days` (declassify_on), soonest first; a count when limit is None."""
    from registry.assets.models import Asset, AssetStatus

    cond = sa.and_(Asset.declassify_on.is_not(None), Asset.declassify_on >= today,
                   Asset.declassify_on <= today + timedelta(days=days), Asset.status != AssetStatus.DESTROYED)
    if limit is None:
        return session.scalar(sa.select(sa.func.count(Asset.id)).where(cond)) or 0
    return list(session.scalars(sa.select(Asset).where(cond).order_by(Asset.declassify_on).limit(limit)))


def checkouts_per_day(session, now: datetime, tz: ZoneInfo, days: int = 30) -> list[tuple[date, int]]:
    """Checkouts per local day over the last `days` days, oldest first (days without any count 0)."""
    from registry.assets.models import Checkout

    return _per_day(session, Checkout.out_at, now, tz, days)


def _per_day(session, column, now: datetime, tz: ZoneInfo, days: int) -> list[tuple[date, int]]:
    """Counted in the database, one column per local day between the day boundaries (computed here
    with the unit's zone, DST-correct), instead of loading every timestamp of the period (issue 8)."""
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    starts = [datetime.combine(first + timedelta(days=i), datetime.min.time(), tzinfo=tz) for i in range(days + 1)]
    row = session.execute(_per_day_statement(column, days), {f"d{i}": starts[i] for i in range(days + 1)}).one()
    return [(first + timedelta(days=i), int(row[i] or 0)) for i in range(days)]


@functools.cache
def _per_day_statement(column, days: int):
    """One statement: a range count per day, each read from the column's index. Built once per column
    (building 30 subqueries cost more CPU than running them); the day boundaries are parameters."""
    bounds = [sa.bindparam(f"d{i}", type_=column.type) for i in range(days + 1)]
    return sa.select(*[sa.select(sa.func.count()).select_from(column.table)
                       .where(column >= bounds[i], column < bounds[i + 1]).scalar_subquery() for i in range(days)])


# ------------------------------------------------------------------ visitors

def visits_per_day(session, now: datetime, tz: ZoneInfo, days: int = 30) -> list[tuple[date, int]]:
    from registry.visits.models import Visit

    return _per_day(session, Visit.entered_at, now, tz, days)


def permissions_expiring(session, now: datetime, days: int = 7, limit: int | None = None):
    """Area permissions valid now that end within `days`; a count when limit is None."""
    from registry.visits.models import AreaPermission

    cond = sa.and_(AreaPermission.revoked_at.is_(None), AreaPermission.valid_from <= now,
                   AreaPermission.valid_until >= now, AreaPermission.valid_until <= now + timedelta(days=days))
    if limit is None:
        return session.scalar(sa.select(sa.func.count(AreaPermission.id)).where(cond)) or 0
    return list(session.scalars(sa.select(AreaPermission).where(cond).order_by(AreaPermission.valid_until)
                                .options(selectinload(AreaPermission.visitor), selectinload(AreaPermission.room))
                                .limit(limit)))  # visitor and room with the list, not one query per row


# ------------------------------------------------------------------ approvals, refusals

def refusals_by_reason(session, now: datetime, days: int = 7) -> list[tuple[str, int]]:
    """Refusals (security events of a `*_denied` kind, by reason code) of the last `days` days, most
    frequent first. Anomalies such as overdue items or return discrepancies are not refusals."""
    from registry.core.security_events import SecurityEvent

    rows = session.execute(sa.select(SecurityEvent.reason, sa.func.count(SecurityEvent.id))
                           .where(SecurityEvent.at >= now - timedelta(days=days), SecurityEvent.reason.is_not(None),
                                  SecurityEvent.kind.like("%\\_denied", escape="\\"))
                           .group_by(SecurityEvent.reason).order_by(sa.func.count(SecurityEvent.id).desc()))
    return [(r, n) for r, n in rows]


# ------------------------------------------------------------------ personnel, stocktake, provisions

def commitment_counts(session, today: date, days: int = 30) -> dict[str, int]:
    """{"missing", "expired", "expiring"} over the people of `people.services.commitments_query`, counted
    in the database (one aggregate) instead of loading every such person (thousands at full size); the
    states are those of `Person.commitment_state`."""
    from registry.people.services import commitments_query

    q = commitments_query(today=today, within_days=days).order_by(None).subquery()
    state = sa.case((q.c.commitment_signed_on.is_(None), "missing"),
                    (q.c.commitment_expires_on.is_(None), "valid"),
                    (q.c.commitment_expires_on < today, "expired"),
                    (q.c.commitment_expires_on <= today + timedelta(days=max(0, int(days))), "expiring"),
                    else_="valid")
    counts = {"missing": 0, "expired": 0, "expiring": 0}
    for name, n in session.execute(sa.select(state, sa.func.count()).group_by(state)):
        if name in counts:
            counts[name] = int(n)
    return counts


def commitments_expiring(session, today: date, days: int = 30, limit: int = 8) -> list:
    from registry.people.services import commitments_query

    return list(session.scalars(commitments_query(today=today, within_days=days).limit(limit)))


def my_unacknowledged_reminders(session, user) -> int:
    from registry.people.services import unacknowledged_count

    if not getattr(user, "person_id", None):
        return 0
    return unacknowledged_count(session, user.person_id)


def open_inventories(session) -> int:
    from registry.stocktake.models import Inventory

    return session.scalar(sa.select(sa.func.count(Inventory.id)).where(Inventory.closed_at.is_(None))) or 0


def provisions_in_progress(session) -> int:
    from registry.cooperation.provision_services import open_count

    return open_count(session)


def now_and_today(settings: dict, now: datetime | None = None) -> tuple[datetime, date, ZoneInfo]:
    now = now or utcnow()
    tz = zone(settings)
    return now, now.astimezone(tz).date(), tz


LEVEL_ORDER = [lv.value for lv in Level]
