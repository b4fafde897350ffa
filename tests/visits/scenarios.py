"""Entry scenarios shared by the service, API, page and CLI tests: each builds a situation and
names the reason code the entry must be refused with (None: allowed)."""

from __future__ import annotations

from datetime import date, timedelta

from registry.extensions import db


def _enter(w, visitor, room, escort=None):
    from registry.visits import services

    return services.enter(db.session, visitor, room, escort=escort, actor=w.officer)


def blocked(w):
    v = w.visitor(blocked=True, blocked_reason="photographed the lab")
    return dict(visitor=v, room=w.room(foreign_policy="open", level="internal"), escort=None)


def blocked_and_inside(w):  # blocked wins over already_inside
    v = w.visitor()
    _enter(w, v, w.room(foreign_policy="open", level="unclassified"))
    from registry.visits import services

    services.block_visitor(db.session, v, "incident", actor=w.officer)
    return dict(visitor=v, room=w.room(foreign_policy="open", level="internal"), escort=None)


def already_inside(w):
    v = w.visitor()
    _enter(w, v, w.room(foreign_policy="open", level="unclassified"))
    return dict(visitor=v, room=w.room(foreign_policy="open", level="internal"), escort=None)


def inside_and_outside_window(w):  # already_inside is checked right after visitor_blocked
    v = w.visitor()
    _enter(w, v, w.room(foreign_policy="open", level="unclassified"))
    v.arrives_on, v.departs_on = date.today() - timedelta(days=9), date.today() - timedelta(days=8)
    db.session.flush()
    return dict(visitor=v, room=w.room(foreign_policy="open", level="internal"), escort=None)


def too_early(w):
    v = w.visitor(arrives_on=date.today() + timedelta(days=2), departs_on=date.today() + timedelta(days=5))
    return dict(visitor=v, room=w.room(foreign_policy="open", level="internal"), escort=None)


def too_late(w):
    v = w.visitor(arrives_on=date.today() - timedelta(days=5), departs_on=date.today() - timedelta(days=2))
    return dict(visitor=v, room=w.room(foreign_policy="open", level="internal"), escort=None)


def forbidden_foreigner(w):  # even with a (directly inserted) permission and a good escort
    v = w.visitor(nationality="JP")
    room = w.room(foreign_policy="forbidden", level="secret")
    w.raw_permission(v, room)
    return dict(visitor=v, room=room, escort=w.person(category="core"))


def forbidden_hk(w):  # Hong Kong counts as outside the home country (CN)
    v = w.visitor(nationality="HK", id_doc_type="hk_macau_permit")
    return dict(visitor=v, room=w.room(foreign_policy="forbidden", level="confidential"),
                escort=w.person(category="core"))


def no_permission(w):
    v = w.visitor()
    return dict(visitor=v, room=w.room(foreign_policy="escorted", level="secret"), escort=w.person(category="core"))


def permission_expired(w):
    v = w.visitor()
    room = w.room(foreign_policy="escorted", level="confidential")
    w.raw_permission(v, room, start=-10, end=-1)
    return dict(visitor=v, room=room, escort=w.person(category="core"))


def permission_not_yet(w):
    v = w.visitor()
    room = w.room(foreign_policy="escorted", level="confidential")
    w.raw_permission(v, room, start=2, end=6)
    return dict(visitor=v, room=room, escort=w.person(category="core"))


def permission_revoked(w):
    from registry.visits import services

    v = w.visitor()
    room = w.room(foreign_policy="escorted", level="internal")
    p = w.permission(v, room)
    services.revoke_permission(db.session, p, actor=w.officer, reason="visit cancelled")
    return dict(visitor=v, room=room, escort=w.person(category="core"))


def permission_other_room(w):
    v = w.visitor()
    w.permission(v, w.room(foreign_policy="escorted", level="internal"))
    return dict(visitor=v, room=w.room(foreign_policy="escorted", level="internal"), escort=w.person(category="core"))


def domestic_forbidden_no_permission(w):
    v = w.visitor(nationality="CN", id_doc_type="national_id")
    return dict(visitor=v, room=w.room(foreign_policy="forbidden", level="secret"), escort=w.person(category="core"))


def no_escort(w):
    v = w.visitor()
    room = w.room(foreign_policy="escorted", level="secret")
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=None)


def domestic_forbidden_no_escort(w):
    v = w.visitor(nationality="CN", id_doc_type="national_id")
    room = w.room(foreign_policy="forbidden", level="secret")
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=None)


def open_room_permission_wants_escort(w):
    v = w.visitor()
    room = w.room(foreign_policy="open", level="internal")
    w.permission(v, room, escort_required=True)
    return dict(visitor=v, room=room, escort=None)


def escort_clearance_too_low(w):
    v = w.visitor()
    room = w.room(foreign_policy="escorted", level="secret")
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=w.person(category="general"))  # confidential < secret


def escort_foreign(w):
    v = w.visitor()
    room = w.room(foreign_policy="escorted", level="internal")
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=w.person(category="core", nationality="DE"))


def escort_left(w):
    v = w.visitor()
    room = w.room(foreign_policy="escorted", level="internal")
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=w.person(category="core", status="left"))


def escort_decommissioning(w):
    v = w.visitor()
    room = w.room(foreign_policy="escorted", level="internal")
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=w.person(category="core", status="decommissioning",
                                                      decommission_until=date.today() + timedelta(days=300)))


def escort_group_full(w):
    room = w.room(foreign_policy="escorted", level="confidential", max_visitors_per_escort=1)
    escort = w.person(category="important")
    first = w.visitor()
    w.permission(first, room)
    _enter(w, first, room, escort)
    v = w.visitor()
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=escort)


# ---------------------------------------------------------------- allowed

def open_room_foreigner(w):
    return dict(visitor=w.visitor(nationality="US"), room=w.room(foreign_policy="open", level="internal"), escort=None)


def escorted_with_everything(w):
    v = w.visitor(nationality="JP")
    room = w.room(foreign_policy="escorted", level="secret")
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=w.person(category="important"))


def escort_group_one_left(w):
    room = w.room(foreign_policy="escorted", level="confidential", max_visitors_per_escort=2)
    escort = w.person(category="important")
    first = w.visitor()
    w.permission(first, room)
    _enter(w, first, room, escort)
    v = w.visitor()
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=escort)


def escort_busy_in_other_room(w):  # the group is counted per room
    escort = w.person(category="core")
    other = w.room(foreign_policy="escorted", level="confidential", max_visitors_per_escort=1)
    first = w.visitor()
    w.permission(first, other)
    _enter(w, first, other, escort)
    room = w.room(foreign_policy="escorted", level="confidential", max_visitors_per_escort=1)
    v = w.visitor()
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=escort)


def domestic_forbidden_with_permission(w):
    v = w.visitor(nationality="CN", id_doc_type="national_id")
    room = w.room(foreign_policy="forbidden", level="top_secret")
    w.permission(v, room)
    return dict(visitor=v, room=room, escort=w.person(category="core"))


def open_room_no_dates(w):
    return dict(visitor=w.visitor(arrives_on=None, departs_on=None), room=w.room(foreign_policy="open"), escort=None)


REFUSED = [
    ("visitor_blocked", blocked),
    ("visitor_blocked", blocked_and_inside),
    ("already_inside", already_inside),
    ("already_inside", inside_and_outside_window),
    ("outside_visit_window", too_early),
    ("outside_visit_window", too_late),
    ("room_forbidden_for_foreigners", forbidden_foreigner),
    ("room_forbidden_for_foreigners", forbidden_hk),
    ("no_permission", no_permission),
    ("no_permission", permission_expired),
    ("no_permission", permission_not_yet),
    ("no_permission", permission_revoked),
    ("no_permission", permission_other_room),
    ("no_permission", domestic_forbidden_no_permission),
    ("escort_required", no_escort),
    ("escort_required", domestic_forbidden_no_escort),
    ("escort_required", open_room_permission_wants_escort),
    ("escort_not_eligible", escort_clearance_too_low),
    ("escort_not_eligible", escort_foreign),
    ("escort_not_eligible", escort_left),
    ("escort_not_eligible", escort_decommissioning),
    ("escort_group_full", escort_group_full),
]
ALLOWED = [open_room_foreigner, escorted_with_everything, escort_group_one_left, escort_busy_in_other_room,
           domestic_forbidden_with_permission, open_room_no_dates]

# one scenario per reason code, for the (slower) route tests of every channel
ONE_PER_REASON = {}
for _code, _fn in REFUSED:
    ONE_PER_REASON.setdefault(_code, _fn)


def build(app, make, scenario):
    """Build a scenario in its own app context, commit, and return plain ids."""
    from tests.visits.conftest import World

    with app.app_context():
        w = World(app, make)
        s = scenario(w)
        ids = {"visitor_id": s["visitor"].id, "room_id": s["room"].id,
               "escort_id": s["escort"].id if s["escort"] else None, "room_code": s["room"].code,
               "escort_no": s["escort"].employee_no if s["escort"] else None,
               "badge_code": s["visitor"].badge_code}
        db.session.commit()
    return ids
