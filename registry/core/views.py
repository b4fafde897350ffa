"""Dashboard, health check, audit trail and security-event pages."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from registry.core import audit
from registry.core.api import doc, register_schema
from registry.core.auth import public, roles_required
from registry.core.dashboard import TILE_PROVIDERS, Tile, panels_for, tiles_for
from registry.core.pages import paginate_page
from registry.core.security_events import SecurityEvent, record_security_event
from registry.core.db import begin_read, begin_write
from registry.core.models import utcnow
from registry.extensions import db

bp = Blueprint("core", __name__)

register_schema("Health", {"type": "object", "required": ["status", "db"], "properties": {
    "status": {"type": "string"}, "db": {"type": "string"}}})


@bp.get("/")
@roles_required()
def dashboard():
    if current_user.role.value == "guard" and "visits.guard" in _endpoints():
        return redirect(url_for("visits.guard"))
    return render_template("core/dashboard.html", tiles=tiles_for(current_user), panels=panels_for(current_user))


def _endpoints():
    from flask import current_app

    return current_app.view_functions


@bp.get("/healthz")
@public
@doc("Health check (no authentication)", tags=["meta"], response="Health", auth=False, errors=(503,))
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
        return {"status": "ok", "db": "ok"}
    except Exception:
        db.session.rollback()
        return {"status": "error", "db": "error"}, 503


@bp.get("/security-events")
@roles_required("officer", "inspector")
def security_events():
    stmt = sa.select(SecurityEvent).order_by(SecurityEvent.id.desc())
    kind = request.args.get("kind")
    if kind:
        stmt = stmt.where(SecurityEvent.kind == kind[:40])
    kinds = db.session.scalars(sa.select(SecurityEvent.kind).distinct().order_by(SecurityEvent.kind)).all()
    return render_template("core/security_events.html", page=paginate_page(stmt), kinds=kinds)


@bp.get("/audit")
@roles_required("officer", "inspector")
def audit_trail():
    stmt = sa.select(audit.AuditEvent).order_by(audit.AuditEvent.seq.desc())
    action = request.args.get("action")
    if action:
        stmt = stmt.where(audit.AuditEvent.action.startswith(action[:80]))
    seq, head = audit.head(db.session)
    return render_template("core/audit.html", page=paginate_page(stmt), head_seq=seq, head_hash=head, result=None)


@bp.post("/audit/verify")
@roles_required("officer", "inspector")
def audit_verify():
    checkpoint = None
    text = (request.form.get("checkpoint") or "").strip()
    if text:
        try:
            checkpoint = audit.parse_checkpoint(text)
        except ValueError:
            flash(_("The checkpoint must look like SEQ:HASH."), "error")
            return redirect(url_for("core.audit_trail"))
    result = verify_and_report(checkpoint)
    stmt = sa.select(audit.AuditEvent).order_by(audit.AuditEvent.seq.desc())
    seq, head = audit.head(db.session)
    return render_template("core/audit.html", page=paginate_page(stmt), head_seq=seq, head_hash=head, result=result)


def verify_and_report(checkpoint=None):
    """Verify the chain; a broken chain is itself recorded as a security event.

    The verification is a read transaction (also behind the POST of the audit page, which began
    write-locked): it never holds the SQLite write lock, so checkouts go on while it runs."""
    begin_read(db.session)
    result = audit.verify(db.session, checkpoint)
    if not result.ok:
        db.session.rollback()
        begin_write(db.session)
        record_security_event(db.session, kind="audit_chain_broken", actor=current_user if current_user.is_authenticated else None,
                              reason=result.problem, subject_type="audit_events",
                              subject_label=f"seq {result.first_bad_seq}", details=result.as_json())
        db.session.commit()
    return result


def _base_tiles(user):
    if not user.has_role("officer", "inspector"):
        return []
    since = utcnow() - timedelta(days=7)
    denials = db.session.scalar(sa.select(sa.func.count(SecurityEvent.id)).where(SecurityEvent.at >= since))
    return [Tile(_l("Security events, last 7 days"), denials, url_for("core.security_events"), warn=bool(denials))]


TILE_PROVIDERS.append(_base_tiles)
