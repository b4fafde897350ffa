"""Room and its staff access list."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.core.models import Base, LabelledEnum, Level, UTCDateTime, enum_column, utcnow


class ForeignPolicy(LabelledEnum):
    FORBIDDEN = "forbidden", _l("Forbidden to foreign nationals")
    ESCORTED = "escorted", _l("Permission and escort required")
    OPEN = "open", _l("Open")


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120), index=True)
    location: Mapped[str] = mapped_column(sa.String(200), default="")
    level: Mapped[Level] = mapped_column(enum_column(Level), default=Level.INTERNAL)
    foreign_policy: Mapped[ForeignPolicy] = mapped_column(enum_column(ForeignPolicy), default=ForeignPolicy.ESCORTED)
    max_visitors_per_escort: Mapped[int] = mapped_column(sa.Integer, default=5)
    label_code: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    protection: Mapped[str] = mapped_column(sa.Text, default="")  # 人工/物理/技术防护措施
    responsible_id: Mapped[int | None] = mapped_column(sa.ForeignKey("persons.id"))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    responsible = relationship("Person", foreign_keys=[responsible_id])

    __table_args__ = (sa.CheckConstraint("max_visitors_per_escort BETWEEN 1 AND 50", name="max_visitors_range"),)

    @property
    def audit_label(self) -> str:
        return f"{self.code} {self.name}"


class RoomAccess(Base):
    """A staff member on a room's access list (who may enter)."""

    __tablename__ = "room_access"

    id: Mapped[int] = mapped_column(primary_key=True)
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id"), index=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    granted_by: Mapped[str] = mapped_column(sa.String(64), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    room = relationship(Room)
    person = relationship("Person")

    __table_args__ = (
        sa.Index("uq_room_access_open", "room_id", "person_id", unique=True,
                 sqlite_where=sa.text("revoked_at IS NULL"), postgresql_where=sa.text("revoked_at IS NULL")),
    )
