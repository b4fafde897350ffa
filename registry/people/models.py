"""Person (涉密人员), training records and foreign-exchange reminders."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.core.models import Base, Category, LabelledEnum, Level, UTCDateTime, enum_column, utcnow


class PersonStatus(LabelledEnum):
    ACTIVE = "active", _l("Active")
    DECOMMISSIONING = "decommissioning", _l("Decommissioning period")
    LEFT = "left", _l("Left")


class Occasion(LabelledEnum):
    TRIP = "trip", _l("Trip abroad")
    HOSTING = "hosting", _l("Hosting foreign guests")
    CONFERENCE = "conference", _l("International conference")
    OTHER = "other", _l("Other")


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), index=True)
    employee_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    department: Mapped[str] = mapped_column(sa.String(120), default="", index=True)
    position: Mapped[str] = mapped_column(sa.String(120), default="")
    nationality: Mapped[str] = mapped_column(sa.String(2), default="CN")
    category: Mapped[Category] = mapped_column(enum_column(Category), default=Category.NONE)
    commitment_signed_on: Mapped[date | None] = mapped_column(sa.Date)
    commitment_expires_on: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[PersonStatus] = mapped_column(enum_column(PersonStatus), default=PersonStatus.ACTIVE)
    decommission_until: Mapped[date | None] = mapped_column(sa.Date)
    left_on: Mapped[date | None] = mapped_column(sa.Date)  # 离岗日期 (start of decommissioning or leaving)
    phone: Mapped[str] = mapped_column(sa.String(40), default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    trainings = relationship("Training", back_populates="person", order_by="Training.date.desc()")
    reminders = relationship("Reminder", back_populates="person", order_by="Reminder.date.desc()",
                             foreign_keys="Reminder.person_id")

    @property
    def audit_label(self) -> str:
        return f"{self.name} ({self.employee_no})"

    def is_foreign(self, home_country: str) -> bool:
        return (self.nationality or "").upper() != (home_country or "CN").upper()

    def clearance(self, home_country: str) -> Level:
        """Highest level this person may access: by category, never above Internal for foreigners."""
        level = Category(self.category).clearance
        if self.is_foreign(home_country) and level > Level.INTERNAL:
            return Level.INTERNAL
        return level

    @property
    def is_active(self) -> bool:
        return self.status == PersonStatus.ACTIVE

    def commitment_valid(self, on: date) -> bool:
        return bool(self.commitment_signed_on) and (
            self.commitment_expires_on is None or self.commitment_expires_on >= on
        )

    @property
    def needs_commitment(self) -> bool:
        """Cleared staff (any category but `none`) must have a signed commitment letter (保密承诺书)."""
        return Category(self.category) != Category.NONE

    def commitment_state(self, today: date, within_days: int = 30) -> str:
        """`missing`, `expired`, `expiring` (within `within_days`), `valid`, or `not_required`."""
        if not self.commitment_signed_on:
            return "missing" if self.needs_commitment else "not_required"
        if self.commitment_expires_on is None:
            return "valid"
        if self.commitment_expires_on < today:
            return "expired"
        if (self.commitment_expires_on - today).days <= within_days:
            return "expiring"
        return "valid"


class Training(Base):
    __tablename__ = "trainings"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    date: Mapped[date] = mapped_column(sa.Date)
    course: Mapped[str] = mapped_column(sa.String(200))
    hours: Mapped[float] = mapped_column(sa.Numeric(6, 1), default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person = relationship(Person, back_populates="trainings")

    @property
    def audit_label(self) -> str:
        return f"training #{self.id} {self.course}"


class Reminder(Base):
    """对外科技交流保密提醒: a secrecy briefing before a foreign exchange."""

    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    date: Mapped[date] = mapped_column(sa.Date)
    occasion: Mapped[Occasion] = mapped_column(enum_column(Occasion))
    given_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("persons.id"))
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    acknowledged: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str] = mapped_column(sa.String(64), default="")  # username who marked it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person = relationship(Person, back_populates="reminders", foreign_keys=[person_id])
    given_by = relationship(Person, foreign_keys=[given_by_id])

    @property
    def audit_label(self) -> str:
        return f"reminder #{self.id}"
