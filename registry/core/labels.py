"""Label codes (SPEC §4): random, opaque, URL-safe; one current code per item, old ones revoked.

The QR on a label encodes BASE_URL + /s/<code>. A code says nothing about the item; the
labels table maps every code ever issued to its target, so a revoked code is recognised
(and refused) rather than treated as unknown by the signed-in officer.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.core.models import Base, UTCDateTime, utcnow

# 15 random bytes = 120 bits from the CSPRNG, 20 URL-safe characters.
CODE_BYTES = 15
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{16,40}$")
TARGET_TYPES = ("asset", "room", "visitor")


def new_code() -> str:
    """A fresh code that starts and ends with a letter or digit.

    A code starting with '-' is read as an option by the CLI (`visits enter -x…`) and a
    leading or trailing '-'/'_' is easy to miss when a guard types a code off a worn label,
    so such draws are discarded (about 6% of them; the code keeps ~119 bits of entropy).
    """
    while True:
        code = secrets.token_urlsafe(CODE_BYTES)
        if code[0].isalnum() and code[-1].isalnum():
            return code


class Label(Base):
    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    target_type: Mapped[str] = mapped_column(sa.String(10))
    target_id: Mapped[int] = mapped_column(sa.Integer)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by: Mapped[str] = mapped_column(sa.String(64), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(sa.String(200))

    __table_args__ = (
        sa.Index("ix_labels_target", "target_type", "target_id"),
        sa.CheckConstraint("target_type IN ('asset','room','visitor')", name="target_type"),
    )

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


def issue_label(session, target_type: str, target, *, actor=None, reason: str | None = None) -> Label:
    """Give `target` a new code, revoking its current one. Sets target.label_code (or badge_code)."""
    if target_type not in TARGET_TYPES:
        raise ValueError(target_type)
    if target.id is None:
        session.flush()
    now = utcnow()
    for old in session.scalars(sa.select(Label).where(
            Label.target_type == target_type, Label.target_id == target.id, Label.revoked_at.is_(None))):
        old.revoked_at = now
        old.revoked_reason = (reason or "reissued")[:200]
    label = Label(code=new_code(), target_type=target_type, target_id=target.id, issued_at=now,
                  issued_by=getattr(actor, "username", "") or "")
    session.add(label)
    attr = "badge_code" if target_type == "visitor" else "label_code"
    setattr(target, attr, label.code)
    session.flush()
    return label


def find_label(session, code: str) -> Label | None:
    """Look a scanned code up; untrusted input is length- and charset-checked first."""
    if not code or not CODE_RE.match(code):
        return None
    return session.scalar(sa.select(Label).where(Label.code == code))


def extract_code(text: str, base_url: str) -> str | None:
    """Accept what a scanner or a person types: a label URL, '/s/<code>' or a bare code.

    Never follows or echoes the text; returns a syntactically valid code or None.
    """
    text = (text or "").strip()[:300]
    if not text:
        return None
    m = re.search(r"/s/([A-Za-z0-9_-]{16,40})/?$", text)
    if m:
        return m.group(1)
    if CODE_RE.match(text):
        return text
    return None
