"""Asset (classified item) and its need-to-know scope, checkouts, equipment inspections and
registry-number counters (SPEC §3; DOMAIN §2.2–2.8 for the real register columns)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.core.models import Base, LabelledEnum, Level, UTCDateTime, enum_column, utcnow


class AssetKind(LabelledEnum):
    MEDIA = "media", _l("Classified media")
    COMPUTER = "computer", _l("Classified computer")
    STORAGE = "storage", _l("Removable storage")
    EQUIPMENT = "equipment", _l("Equipment")


class AssetStatus(LabelledEnum):
    AVAILABLE = "available", _l("Available")
    CHECKED_OUT = "checked_out", _l("Checked out")
    MISSING = "missing", _l("Missing")
    DESTROYED = "destroyed", _l("Destroyed")


class Subtype(LabelledEnum):
    PAPER = "paper", _l("Paper document")
    DISC = "disc", _l("Optical disc")
    TAPE = "tape", _l("Tape")
    FILM = "film", _l("Film / drawing")
    LAPTOP = "laptop", _l("Laptop")
    DESKTOP = "desktop", _l("Desktop")
    SERVER = "server", _l("Server")
    USB_FLASH = "usb_flash", _l("USB flash drive")
    EXTERNAL_DISK = "external_disk", _l("External disk")
    MEMORY_CARD = "memory_card", _l("Memory card")
    PRINTER = "printer", _l("Printer")
    SCANNER = "scanner", _l("Scanner")
    COPIER = "copier", _l("Copier")
    CAMERA = "camera", _l("Camera")
    INSTRUMENT = "instrument", _l("Instrument")
    OTHER = "other", _l("Other")


SUBTYPES_BY_KIND: dict[AssetKind, tuple[Subtype, ...]] = {
    AssetKind.MEDIA: (Subtype.PAPER, Subtype.DISC, Subtype.TAPE, Subtype.FILM, Subtype.OTHER),
    AssetKind.COMPUTER: (Subtype.LAPTOP, Subtype.DESKTOP, Subtype.SERVER, Subtype.OTHER),
    AssetKind.STORAGE: (Subtype.USB_FLASH, Subtype.EXTERNAL_DISK, Subtype.MEMORY_CARD, Subtype.DISC, Subtype.OTHER),
    AssetKind.EQUIPMENT: (Subtype.PRINTER, Subtype.SCANNER, Subtype.COPIER, Subtype.CAMERA, Subtype.INSTRUMENT,
                          Subtype.OTHER),
}


class Network(LabelledEnum):
    """Networks a classified computer may be on — never the internet (SPEC §3)."""

    CLASSIFIED = "classified", _l("Classified network")
    STANDALONE = "standalone", _l("Standalone (air-gapped)")
    INTRANET = "intranet", _l("Classified intranet")


class ReturnCondition(LabelledEnum):
    INTACT = "intact", _l("Intact")
    DAMAGED = "damaged", _l("Damaged")
    SEAL_BROKEN = "seal_broken", _l("Seal broken")
    INCOMPLETE = "incomplete", _l("Incomplete")


class InspectionResult(LabelledEnum):
    PASSED = "passed", _l("Passed")
    FAILED = "failed", _l("Failed")


class Asset(Base):
    """One registered item. Kind-specific columns stay empty for the other kinds."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    registry_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    kind: Mapped[AssetKind] = mapped_column(enum_column(AssetKind), index=True)
    subtype: Mapped[Subtype] = mapped_column(enum_column(Subtype), default=Subtype.OTHER)
    title: Mapped[str] = mapped_column(sa.String(300))
    level: Mapped[Level] = mapped_column(enum_column(Level), index=True)
    secrecy_years: Mapped[int | None] = mapped_column(sa.Integer)  # 保密期限 (years)
    declassify_on: Mapped[date | None] = mapped_column(sa.Date, index=True)  # "ending within 90 days" (dashboard)
    custodian_id: Mapped[int | None] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    room_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rooms.id"), index=True)
    status: Mapped[AssetStatus] = mapped_column(enum_column(AssetStatus), default=AssetStatus.AVAILABLE, index=True)
    serial_no: Mapped[str] = mapped_column(sa.String(100), default="")
    model: Mapped[str] = mapped_column(sa.String(120), default="")
    # media (涉密载体): 文号或编号, 制作发文单位, 页数, 份数, 份号, original of a copy
    doc_no: Mapped[str] = mapped_column(sa.String(80), default="")
    originator: Mapped[str] = mapped_column(sa.String(120), default="")
    pages: Mapped[int | None] = mapped_column(sa.Integer)
    copies: Mapped[int | None] = mapped_column(sa.Integer)
    copy_no: Mapped[int | None] = mapped_column(sa.Integer)
    original_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assets.id"), index=True)
    # computers (涉密计算机): 硬盘序列号, MAC, network, OS, IP
    hdd_serial: Mapped[str] = mapped_column(sa.String(120), default="")
    mac: Mapped[str] = mapped_column(sa.String(60), default="")
    network: Mapped[Network | None] = mapped_column(enum_column(Network))
    os: Mapped[str] = mapped_column(sa.String(120), default="")
    ip: Mapped[str] = mapped_column(sa.String(60), default="")
    # removable storage: capacity, e.g. "64 GB"
    capacity: Mapped[str] = mapped_column(sa.String(40), default="")
    # equipment (and computers): foreign-supplied, with inspection records
    foreign_supplied: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    label_code: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    registered_on: Mapped[date] = mapped_column(sa.Date, default=date.today)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    custodian = relationship("Person", foreign_keys=[custodian_id])
    room = relationship("Room", foreign_keys=[room_id])
    original = relationship("Asset", remote_side=[id], foreign_keys=[original_id])
    scope_entries = relationship("AssetScope", cascade="all, delete-orphan", order_by="AssetScope.id",
                                 back_populates="asset")
    inspections = relationship("EquipmentInspection", back_populates="asset",
                               order_by="(EquipmentInspection.date.desc(), EquipmentInspection.id.desc())")
    open_checkout = relationship(
        "Checkout", primaryjoin="and_(Checkout.asset_id == Asset.id, Checkout.returned_at.is_(None))",
        viewonly=True, uselist=False)

    __table_args__ = (
        sa.CheckConstraint("pages IS NULL OR pages >= 0", name="pages_nonneg"),
        sa.CheckConstraint("copies IS NULL OR copies >= 1", name="copies_positive"),
        sa.CheckConstraint("copy_no IS NULL OR copy_no >= 1", name="copy_no_positive"),
    )

    @property
    def audit_label(self) -> str:
        return self.registry_no

    @property
    def scope(self) -> dict:
        """The need-to-know scope as SPEC §6 spells it; both lists empty = anyone cleared."""
        return {"departments": [e.department for e in self.scope_entries if e.department],
                "person_ids": [e.person_id for e in self.scope_entries if e.person_id]}

    @property
    def has_scope(self) -> bool:
        return bool(self.scope_entries)

    @property
    def is_destroyed(self) -> bool:
        return self.status == AssetStatus.DESTROYED


class AssetScope(Base):
    """One entry of an item's need-to-know scope (知悉范围): a department or a named person."""

    __tablename__ = "asset_scopes"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"), index=True)
    department: Mapped[str | None] = mapped_column(sa.String(120))
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("persons.id"), index=True)

    asset = relationship(Asset, back_populates="scope_entries")
    person = relationship("Person")

    __table_args__ = (
        sa.CheckConstraint("(department IS NULL) <> (person_id IS NULL)", name="one_of"),
    )


class EquipmentInspection(Base):
    """保密技术检查检测 of a (foreign-supplied) device: date, inspector, result, notes."""

    __tablename__ = "equipment_inspections"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"), index=True)
    date: Mapped[date] = mapped_column(sa.Date)
    inspector: Mapped[str] = mapped_column(sa.String(200))
    result: Mapped[InspectionResult] = mapped_column(enum_column(InspectionResult))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    asset = relationship(Asset, back_populates="inspections")


class Checkout(Base):
    """One loan of an item (借阅/借用). Exactly one open checkout per asset (partial unique index)."""

    __tablename__ = "checkouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"), index=True)
    borrower_id: Mapped[int] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(300), default="")
    out_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    handled_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    approval_id: Mapped[int | None] = mapped_column(sa.ForeignKey("approvals.id"), unique=True)
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assets.id"))  # 连接设备 (storage → computer)
    self_service: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    batch: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    condition: Mapped[ReturnCondition | None] = mapped_column(enum_column(ReturnCondition))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    overdue_reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    asset = relationship(Asset, foreign_keys=[asset_id])
    device = relationship(Asset, foreign_keys=[device_id])
    borrower = relationship("Person", foreign_keys=[borrower_id])
    handler = relationship("User", foreign_keys=[handled_by])
    receiver = relationship("User", foreign_keys=[received_by])
    approval = relationship("Approval", foreign_keys=[approval_id])

    __table_args__ = (
        # Exactly one open checkout per asset, guaranteed by the database (SPEC §4 rule 1).
        sa.Index("uq_checkouts_open_asset", "asset_id", unique=True,
                 sqlite_where=sa.text("returned_at IS NULL"), postgresql_where=sa.text("returned_at IS NULL")),
        sa.CheckConstraint("due_at >= out_at", name="due_after_out"),
        sa.CheckConstraint("returned_at IS NULL OR condition IS NOT NULL", name="returned_has_condition"),
    )

    @property
    def audit_label(self) -> str:
        return f"checkout #{self.id}"

    @property
    def is_open(self) -> bool:
        return self.returned_at is None

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.returned_at is None and self.due_at < (now or utcnow())


# The dashboard's counts by kind and by level (destroyed items left out) read from these indexes alone,
# not from the 100,000 table rows (issue 8).
sa.Index("ix_assets_kind_status", Asset.kind, Asset.status)
sa.Index("ix_assets_level_status", Asset.level, Asset.status)
# Open checkouts by due date (overdue counts and lists, the dashboard) from a partial index of the open
# ones only, instead of walking every checkout ever due before now (issue 8, docs/PERFORMANCE.md).
sa.Index("ix_checkouts_open_due", Checkout.due_at, sqlite_where=sa.text("returned_at IS NULL"),
         postgresql_where=sa.text("returned_at IS NULL"))


class RegistryCounter(Base):
    """The last registry number handed out per kind and year (incremented under the write lock)."""

    __tablename__ = "registry_counters"

    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    last: Mapped[int] = mapped_column(sa.Integer, default=0)
