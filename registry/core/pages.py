"""Helpers for server-rendered list pages and detail histories."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from flask import request

from registry.core.audit import AuditEvent
from registry.core.auth import READ_REGISTERS
from registry.core.query import search
from registry.extensions import db


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate_page(stmt, per_page: int = 50) -> Page:
    try:
        page = max(1, min(int(request.args.get("page", 1)), 10**6))
    except ValueError:
        page = 1
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique().all()
    return Page(items, page, per_page, total)


def paginate_split(stmt, first, order, per_page: int = 50) -> Page:
    """paginate_page for lists ordered "rows matching `first` first, then the rest", each part in `order`
    (e.g. open checkouts, then returned ones, newest first). Read as two index-ordered parts instead
    of one ORDER BY CASE ... that sorts the whole table for every page (issue 8, docs/PERFORMANCE.md).
    Same rows, same order, same total as paginate_page(stmt.order_by(case(first), *order))."""
    try:
        number = max(1, min(int(request.args.get("page", 1)), 10**6))
    except ValueError:
        number = 1
    base = stmt.order_by(None)
    head = base.where(first)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(base.subquery()))
    n_head = db.session.scalar(sa.select(sa.func.count()).select_from(head.subquery()))
    offset = (number - 1) * per_page
    items = []
    if offset < n_head:
        items += db.session.scalars(head.order_by(*order).limit(per_page).offset(offset)).unique().all()
    if len(items) < per_page:
        items += db.session.scalars(base.where(sa.not_(first)).order_by(*order).limit(per_page - len(items))
                                    .offset(max(0, offset - n_head))).unique().all()
    return Page(items, number, per_page, total)


def history(entity_type: str, entity_id: int, limit: int = 200) -> list[AuditEvent]:
    """Audit events about one record, newest first."""
    return list(db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
        .order_by(AuditEvent.seq.desc()).limit(limit)))


def form_choices_people(session, active_only: bool = True):
    # three columns instead of whole Person entities: ~20,000 people load in a fraction of the time (issue 8)
    return [(pid, person_label(name, number))
            for pid, name, number in session.execute(people_stmt("active" if active_only else "all"))]


# ------------------------------------------------------------------ person pickers (issue 8)
#
# A form field that chooses a person offers the candidates of a *scope* ("active": active people;
# "all": everyone, for filters and user accounts; domains add theirs, e.g. visits' "escort"). Up to
# PICKER_MAX_OPTIONS candidates the page shows a plain <select>; above it a search box
# (templates/_picker.html, static/js/picker.js) that asks /people/lookup for at most LOOKUP_LIMIT
# matches and posts the chosen id under the field's usual name. Without JavaScript the box posts the
# typed text as `<name>_q` and the server resolves an employee number (or an unambiguous exact name)
# within the same scope: core.forms.PersonField for forms, picked_person_id() for filters.

@dataclass(frozen=True)
class PersonScope:
    """`where(params)`: SQL conditions on Person for the candidates (params: request values such as
    `room_id`); `roles`: who may look the candidates up."""

    where: Callable[[Mapping], list]
    roles: tuple


def _scope_all(params) -> list:
    return []


def _scope_active(params) -> list:
    from registry.people.models import Person, PersonStatus

    return [Person.status == PersonStatus.ACTIVE]


PERSON_SCOPES: dict[str, PersonScope] = {
    "all": PersonScope(_scope_all, READ_REGISTERS),
    "active": PersonScope(_scope_active, READ_REGISTERS),
}
PICKER_MAX_OPTIONS = 300
LOOKUP_LIMIT = 20
NUMBER_IN_LABEL = re.compile(r"\(([^()]{1,40})\)\s*$")


def person_label(name: str, employee_no: str) -> str:
    return f"{name} ({employee_no})"


def people_stmt(scope: str = "active", params: Mapping | None = None):
    """id, name, employee_no of the candidates of `scope`, by name: the one query behind the select,
    the lookup and the resolution of a typed number, so that they always offer the same people."""
    from registry.people.models import Person

    return (sa.select(Person.id, Person.name, Person.employee_no)
            .where(*PERSON_SCOPES[scope].where(params or {})).order_by(Person.name, Person.id))


def picker_max_options() -> int:
    from flask import current_app

    try:
        return max(0, int(current_app.config.get("PICKER_MAX_OPTIONS", PICKER_MAX_OPTIONS)))
    except (TypeError, ValueError):
        return PICKER_MAX_OPTIONS


class PeoplePicker:
    """What a template needs to render a person field of `scope` (templates/_picker.html):
    `choices` ((id, label) pairs) when there are few candidates, else None (a search box).
    Iterating it gives the choices, so `{% for pid, label in people %}` keeps working for a select."""

    def __init__(self, session, scope: str = "active", params: Mapping | None = None):
        self.session, self.scope = session, scope
        self.params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        limit = picker_max_options()
        rows = session.execute(people_stmt(scope, self.params).limit(limit + 1)).all()
        self.choices = [(pid, person_label(name, no)) for pid, name, no in rows] if len(rows) <= limit else None

    @property
    def search(self) -> bool:
        return self.choices is None

    def __iter__(self):
        return iter(self.choices or [])

    def __bool__(self) -> bool:
        return True

    def options(self, selected=None):
        return options_html(self.choices or [], selected)

    @property
    def lookup_url(self) -> str | None:
        """Where the search box asks for suggestions; None for a user who may not look this scope up
        (e.g. staff filtering items by custodian): the box then only takes an employee number."""
        from flask import url_for

        if not may_look_up(self.scope):
            return None
        return url_for("people.lookup", scope=self.scope, **self.params)

    def label_for(self, person_id) -> str:
        """The label of the chosen person (to show in the search box), '' for none."""
        from registry.people.models import Person

        try:
            pid = int(person_id)
        except (TypeError, ValueError):
            return ""
        row = self.session.execute(sa.select(Person.name, Person.employee_no).where(Person.id == pid)).first()
        return person_label(*row) if row else ""


    def labels_for(self, person_ids) -> list[tuple[int, str]]:
        """(id, label) of the chosen people (a multi picker's ticked boxes), by name; unknown ids are left out."""
        from registry.people.models import Person

        ids = set()
        for pid in person_ids or ():
            try:
                ids.add(int(pid))
            except (TypeError, ValueError):
                continue
        if not ids:
            return []
        rows = self.session.execute(sa.select(Person.id, Person.name, Person.employee_no)
                                    .where(Person.id.in_(sorted(ids))).order_by(Person.name, Person.id))
        return [(pid, person_label(name, no)) for pid, name, no in rows]


def people_picker(session, scope: str = "active", **params) -> PeoplePicker:
    return PeoplePicker(session, scope, params)


def lookup_people(session, q: str, scope: str = "active", params: Mapping | None = None,
                  limit: int = LOOKUP_LIMIT) -> list[dict]:
    """At most `limit` candidates of `scope` whose name or employee number contains q; an exact
    employee number first, then names that start with q, then the rest, by name."""
    from registry.core.query import like_pattern
    from registry.people.models import Person

    q = (q or "").strip()[:100]
    if not q:
        return []
    prefix = like_pattern(q)[1:]  # "q%" (like_pattern gives "%q%", wildcards escaped)
    rank = sa.case((sa.func.upper(Person.employee_no) == q.upper(), 0),
                   (Person.name.ilike(prefix, escape="\\"), 1), else_=2)
    stmt = (people_stmt(scope, params).where(search([Person.name, Person.employee_no], q))
            .order_by(None).order_by(rank, Person.name, Person.id).limit(limit))
    return [{"id": pid, "label": person_label(name, no)} for pid, name, no in session.execute(stmt)]


def resolve_person(session, text: str, scope: str = "active", params: Mapping | None = None) -> int:
    """The id of the one candidate of `scope` typed as `text`: an employee number, a picker label
    "Name (number)", or an exact name. ValueError with a message for the form when there is no such
    candidate, or several people have that name."""
    from flask_babel import gettext as _

    from registry.people.models import Person

    text = (text or "").strip()[:200]
    conds = PERSON_SCOPES[scope].where(params or {})
    numbers = [text]
    m = NUMBER_IN_LABEL.search(text)
    if m:
        numbers.insert(0, m.group(1).strip())
    for number in numbers:
        for match in (Person.employee_no == number, sa.func.upper(Person.employee_no) == number.upper()):
            ids = session.scalars(sa.select(Person.id).where(*conds, match).limit(2)).all()
            if len(ids) == 1:
                return ids[0]
    ids = session.scalars(sa.select(Person.id).where(*conds, Person.name == text).limit(2)).all()
    if len(ids) == 1:
        return ids[0]
    if ids:
        raise ValueError(_("Several people are called %(name)s: type the employee number.", name=text))
    raise ValueError(_("No one who can be chosen here has the employee number %(text)s.", text=text))


def may_look_up(scope: str) -> bool:
    """The signed-in user may look up the candidates of `scope` (suggestions, or resolving a typed number:
    anyone else learns nothing about who exists, e.g. staff through their self-service forms)."""
    from flask_login import current_user

    return bool(current_user and current_user.is_authenticated and scope in PERSON_SCOPES
                and current_user.has_role(*PERSON_SCOPES[scope].roles))


def typed_text(values, name: str, scope: str = "active") -> str:
    """What was typed in the search box of the person field `name` (posted as `<name>_q`); '' when
    nothing was, or the user may not look up people of `scope`."""
    raw = values.getlist(f"{name}_q") if hasattr(values, "getlist") else []
    if not raw or not may_look_up(scope):
        return ""
    return (raw[0] if raw and isinstance(raw[0], str) else "").strip()


def picked_person_id(values, name: str, scope: str = "active", params: Mapping | None = None):
    """A person id from request values (a filter form): `name` (a select or the picker's chosen id),
    else the employee number typed in the picker's box. (id or None, error message or None)."""
    raw = (values.get(name) or "").strip()
    if raw:
        try:
            return int(raw), None
        except ValueError:
            return None, None
    text = typed_text(values, name, scope)
    if not text:
        return None, None
    try:
        return resolve_person(db.session, text, scope, params), None
    except ValueError as exc:
        return None, str(exc)


def options_html(choices, selected=None):
    """<option> elements for (value, label) pairs, built in one pass. A select of every person (~20,000)
    renders in a few milliseconds instead of hundreds through a Jinja loop (issue 8). Same markup as
    `{% for v, l in choices %}<option value="{{ v }}"{% if v|string == selected|string %} selected{% endif %}>{{ l }}</option>{% endfor %}`;
    `selected` may be one value or a collection of values."""
    from markupsafe import Markup, escape

    if isinstance(selected, (list, tuple, set, frozenset)):
        chosen = {str(s) for s in selected}
    else:
        chosen = set() if selected in (None, "") else {str(selected)}
    return Markup("".join(  # safe: each value and label is escape()d
        f'<option value="{escape(v)}"{" selected" if str(v) in chosen else ""}>{escape(label)}</option>'
        for v, label in choices))


def refused(exc) -> None:
    """Record a RuleViolation as a security event (after rolling back) and flash its reason."""
    from flask import flash
    from flask_login import current_user

    from registry.core.security_events import record_refusal

    record_refusal(db.session, exc, actor=current_user)
    flash(f"{exc.message} ({exc.code})", "error")


def apply_form_errors(form, exc) -> None:
    """Put a service's ValidationFailed details onto the form's fields (others are flashed)."""
    from flask import flash

    for field, messages in exc.details.items():
        if field in form._fields:
            form._fields[field].errors = list(form._fields[field].errors) + [str(m) for m in messages]
        else:
            for m in messages:
                flash(str(m), "error")
