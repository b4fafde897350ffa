"""Security events (SPEC §3): every refusal and every anomaly leaves a trace."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.core import audit, context
from registry.core.models import Base, JSONText, UTCDateTime, utcnow


class SecurityEvent(Base):
    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(sa.String(40), index=True)
    reason: Mapped[str | None] = mapped_column(sa.String(40))
    actor_id: Mapped[int | None] = mapped_column(sa.Integer)
    actor: Mapped[str] = mapped_column(sa.String(120))
    subject_type: Mapped[str | None] = mapped_column(sa.String(40))
    subject_id: Mapped[int | None] = mapped_column(sa.Integer)
    subject: Mapped[str | None] = mapped_column(sa.String(200))
    details: Mapped[dict | None] = mapped_column(JSONText)
    ip: Mapped[str | None] = mapped_column(sa.String(64))

    def as_json(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "at": self.at.isoformat(), "reason": self.reason,
            "actor": self.actor, "subject": self.subject, "subject_type": self.subject_type,
            "subject_id": self.subject_id, "details": self.details or {},
        }


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str | None) -> str | None:
    """Control characters (CR, LF, ESC …) written as visible escapes: a value chosen by a user
    (a typed user name) cannot forge a line in any log, page or export that shows it."""
    if text is None:
        return None
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def record_security_event(session, *, kind: str, actor=None, reason: str | None = None, subject=None,
                          subject_type: str | None = None, subject_id: int | None = None,
                          subject_label: str | None = None, details: dict | None = None) -> SecurityEvent:
    """Append a security event and its audit event in the caller's (write) transaction."""
    if subject is not None:
        subject_type = subject_type or subject.__tablename__
        subject_id = subject_id if subject_id is not None else getattr(subject, "id", None)
        subject_label = subject_label or getattr(subject, "audit_label", None) or f"{subject_type}#{subject_id}"
    event = SecurityEvent(
        kind=kind, reason=reason, actor_id=getattr(actor, "id", None), actor=audit.actor_name(actor),
        subject_type=subject_type, subject_id=subject_id, subject=(one_line(subject_label) or "")[:200] or None,
        details=audit._plain(details) if details else None, ip=context.client_ip(),
    )
    session.add(event)
    session.flush()
    audit.record(session, actor=actor, action=f"security.{kind}", entity=event,
                 data={"reason": reason, "subject": event.subject, "details": event.details})
    return event


def record_refusal(session, exc, *, actor, kind: str | None = None, details: dict | None = None) -> SecurityEvent | None:
    """Record a RuleViolation after the refused change was rolled back (own transaction).

    The caller's transaction is rolled back first so that nothing of the refused action
    survives; the event is then written and committed on its own.
    """
    from registry.core.db import begin_write

    session.rollback()
    begin_write(session)
    subject = getattr(exc, "subject", None)
    label = None
    stype = sid = None
    if subject is not None:
        stype = getattr(subject, "__tablename__", None)
        sid = getattr(subject, "id", None)
        label = getattr(subject, "audit_label", None)
    event = record_security_event(
        session, kind=kind or getattr(exc, "event_kind", "action_denied"), actor=actor, reason=exc.code,
        subject_type=stype, subject_id=sid, subject_label=label, details={**(exc.details or {}), **(details or {})} or None,
    )
    session.commit()
    return event
