"""Visitor, AreaPermission and Visit (来访人员登记, 进入要害部门部位的许可, 出入登记)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.core.models import Base, JSONText, LabelledEnum, UTCDateTime, enum_column, utcnow


class IdDocType(LabelledEnum):
    PASSPORT = "passport", _l("Passport")
    NATIONAL_ID = "national_id", _l("National ID card")
    HK_MACAU_PERMIT = "hk_macau_permit", _l("Home-return permit (Hong Kong / Macau)")
    TAIWAN_PERMIT = "taiwan_permit", _l("Taiwan compatriot permit")
    OTHER = "other", _l("Other document")


class DeviceKind(LabelledEnum):
    """Devices a visitor declares at the door (R15/R16: phones, photo, recording, radio devices)."""

    PHONE = "phone", _l("Mobile phone")
    CAMERA = "camera", _l("Camera / video camera")
    RECORDER = "recorder", _l("Recording device")
    RADIO = "radio", _l("Radio transmitter")
    LAPTOP = "laptop", _l("Laptop / tablet")
    STORAGE = "storage", _l("Removable storage")
    OTHER = "other", _l("Other device")


class DeviceDisposition(LabelledEnum):
    DEPOSITED = "deposited", _l("Deposited (shielding locker)")
    CARRIED = "carried", _l("Carried in (declared)")


class Visitor(Base):
    """An outside or foreign visitor. `foreign` is not stored: it follows from the nationality
    and the unit's home-country setting (see is_foreign)."""

    __tablename__ = "visitors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), index=True)
    name_alt: Mapped[str] = mapped_column(sa.String(120), default="")  # 译名 / name in a second script
    nationality: Mapped[str] = mapped_column(sa.String(2), default="CN")  # 国别（地区）, ISO alpha-2
    id_doc_type: Mapped[IdDocType] = mapped_column(enum_column(IdDocType), default=IdDocType.PASSPORT)
    id_doc_no: Mapped[str] = mapped_column(sa.String(40))  # personal data: masked for most roles
    organization: Mapped[str] = mapped_column(sa.String(200), default="")
    position: Mapped[str] = mapped_column(sa.String(120), default="")  # 职务职称
    purpose: Mapped[str] = mapped_column(sa.String(500), default="")
    host_id: Mapped[int | None] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    project_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cooperation_projects.id"), index=True)
    arrives_on: Mapped[date | None] = mapped_column(sa.Date)
    departs_on: Mapped[date | None] = mapped_column(sa.Date)
    badge_code: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    blocked: Mapped[bool] = mapped_column(sa.Boolean, default=False, index=True)
    blocked_reason: Mapped[str] = mapped_column(sa.String(500), default="")
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_by: Mapped[str] = mapped_column(sa.String(64), default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    host = relationship("Person", foreign_keys=[host_id])
    project = relationship("CooperationProject", foreign_keys=[project_id])

    __table_args__ = (
        sa.UniqueConstraint("id_doc_type", "id_doc_no", name="uq_visitors_id_doc"),
        sa.CheckConstraint("departs_on IS NULL OR arrives_on IS NULL OR departs_on >= arrives_on", name="window_order"),
        sa.CheckConstraint("NOT blocked OR blocked_reason <> ''", name="blocked_has_reason"),
    )

    @property
    def audit_label(self) -> str:
        """What security events and the audit trail name the visitor by (never the document number)."""
        org = f", {self.organization}" if self.organization else ""
        return f"{self.name}{org} (visitor #{self.id})"

    def is_foreign(self, home_country: str) -> bool:
        return (self.nationality or "").upper() != (home_country or "CN").upper()


class AreaPermission(Base):
    """A visitor's permission to enter one room within a window (进入要害部门部位审批)."""

    __tablename__ = "area_permissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_id: Mapped[int] = mapped_column(sa.ForeignKey("visitors.id"), index=True)
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id"), index=True)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    escort_required: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    approval_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)  # approvals.id (area_permission)
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    granted_by: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str] = mapped_column(sa.String(64), default="")
    revoke_reason: Mapped[str] = mapped_column(sa.String(500), default="")

    visitor = relationship(Visitor)
    room = relationship("Room")

    __table_args__ = (
        sa.CheckConstraint("valid_until > valid_from", name="window_order"),
        sa.Index("ix_area_permissions_lookup", "visitor_id", "room_id", "valid_until"),
        sa.Index("ix_area_permissions_valid_until", "valid_until"),  # expiring soon (dashboard, register; issue 8)
        sa.Index("ix_area_permissions_valid_from", "valid_from"),  # the register's order, newest first (issue 8)
    )

    @property
    def audit_label(self) -> str:
        return f"permission #{self.id}"

    def covers(self, at: datetime) -> bool:
        """Unrevoked and `at` lies within [valid_from, valid_until]."""
        return self.revoked_at is None and self.valid_from <= at <= self.valid_until


class Visit(Base):
    """One entry of a visitor into a room, and the exit. At most one open visit per visitor,
    guaranteed by a partial unique index (uq_visits_open)."""

    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    visitor_id: Mapped[int] = mapped_column(sa.ForeignKey("visitors.id"), index=True)
    room_id: Mapped[int] = mapped_column(sa.ForeignKey("rooms.id"), index=True)
    escort_id: Mapped[int | None] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    permission_id: Mapped[int | None] = mapped_column(sa.ForeignKey("area_permissions.id"))
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    exited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    logged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    logged_by: Mapped[str] = mapped_column(sa.String(64), default="")
    exit_logged_by: Mapped[str] = mapped_column(sa.String(64), default="")
    devices: Mapped[list | None] = mapped_column(JSONText)  # [{"kind", "disposition", "note"}]
    note: Mapped[str] = mapped_column(sa.String(500), default="")

    visitor = relationship(Visitor)
    room = relationship("Room")
    escort = relationship("Person", foreign_keys=[escort_id])
    permission = relationship(AreaPermission)

    __table_args__ = (
        sa.Index("uq_visits_open", "visitor_id", unique=True,
                 sqlite_where=sa.text("exited_at IS NULL"), postgresql_where=sa.text("exited_at IS NULL")),
        sa.Index("ix_visits_open_escort", "escort_id", "room_id",
                 sqlite_where=sa.text("exited_at IS NULL"), postgresql_where=sa.text("exited_at IS NULL")),
        # who is inside now, by room (guard board, dashboard): the open visits only (issue 8)
        sa.Index("ix_visits_open_room", "room_id", "entered_at",
                 sqlite_where=sa.text("exited_at IS NULL"), postgresql_where=sa.text("exited_at IS NULL")),
        sa.CheckConstraint("exited_at IS NULL OR exited_at >= entered_at", name="exit_after_entry"),
    )

    @property
    def audit_label(self) -> str:
        return f"visit #{self.id}"

    @property
    def is_open(self) -> bool:
        return self.exited_at is None

    def deposited(self) -> list[dict]:
        """Devices kept at the door (to hand back at exit)."""
        return [d for d in (self.devices or []) if d.get("disposition") == DeviceDisposition.DEPOSITED.value]
