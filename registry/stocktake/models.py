"""Inventory (清查) with its scans, and destruction (销毁) with its items and witnesses."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.core.models import Base, JSONText, LabelledEnum, UTCDateTime, enum_column, utcnow


class ScanOutcome(LabelledEnum):
    """What one scan during an inventory walk found."""

    SEEN = "seen", _l("In its room")
    WRONG_ROOM = "wrong_room", _l("Wrong room")
    UNKNOWN = "unknown", _l("Unknown label")
    REVOKED = "revoked", _l("Revoked label")
    ON_LOAN = "on_loan", _l("Recorded as checked out")
    FOUND = "found", _l("Recorded as missing: found")
    DESTROYED = "destroyed", _l("Recorded as destroyed")
    ROOM = "room", _l("Room label: current room set")
    REPEAT = "repeat", _l("Already scanned")


class Inventory(Base):
    """A stocktake of some rooms (or all); one open inventory per scope at a time."""

    __tablename__ = "inventories"

    id: Mapped[int] = mapped_column(primary_key=True)
    room_ids: Mapped[list] = mapped_column(JSONText, default=list)  # empty = every room
    scope_key: Mapped[str] = mapped_column(sa.String(400))  # "all" or the sorted room ids, e.g. "3,5,9"
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    started_by: Mapped[str] = mapped_column(sa.String(64), default="")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    closed_by: Mapped[str] = mapped_column(sa.String(64), default="")
    # Filled at close: {"missing", "wrong_room", "unknown", "revoked", "out_on_loan", "found", "expected", "seen"}
    result: Mapped[dict | None] = mapped_column(JSONText)

    scans = relationship("InventoryScan", back_populates="inventory", order_by="InventoryScan.id",
                         cascade="all, delete-orphan")

    __table_args__ = (
        # One open inventory per scope, guaranteed by the database as well as by the service.
        sa.Index("uq_inventories_open_scope", "scope_key", unique=True,
                 sqlite_where=sa.text("closed_at IS NULL"), postgresql_where=sa.text("closed_at IS NULL")),
    )

    @property
    def audit_label(self) -> str:
        return f"inventory #{self.id}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def covers_all(self) -> bool:
        return not self.room_ids


class InventoryScan(Base):
    """One scan during the walk: the code read, in which room, when, by whom, and what it was."""

    __tablename__ = "inventory_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    inventory_id: Mapped[int] = mapped_column(sa.ForeignKey("inventories.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    room_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rooms.id"))
    code: Mapped[str] = mapped_column(sa.String(80))  # the code as read (a valid label code, or a short excerpt)
    asset_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assets.id"), index=True)
    outcome: Mapped[ScanOutcome] = mapped_column(enum_column(ScanOutcome))
    scanned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    scanned_by: Mapped[str] = mapped_column(sa.String(64), default="")

    inventory = relationship(Inventory, back_populates="scans")
    room = relationship("Room", foreign_keys=[room_id])
    asset = relationship("Asset", foreign_keys=[asset_id])

    @property
    def audit_label(self) -> str:
        return f"inventory #{self.inventory_id} scan #{self.id}"


class DestructionMethod(LabelledEnum):
    """How items were destroyed (销毁方式)."""

    SHREDDING = "shredding", _l("Shredding")
    PULPING = "pulping", _l("Pulping")
    INCINERATION = "incineration", _l("Incineration")
    DEGAUSSING = "degaussing", _l("Degaussing")
    PHYSICAL = "physical", _l("Physical destruction of disks")
    OTHER = "other", _l("Other")


destruction_items = sa.Table(
    "destruction_items", Base.metadata,
    sa.Column("destruction_id", sa.ForeignKey("destructions.id"), primary_key=True),
    # An item is destroyed once: the database refuses a second destruction record for it.
    sa.Column("asset_id", sa.ForeignKey("assets.id"), primary_key=True, unique=True),
)

destruction_witnesses = sa.Table(
    "destruction_witnesses", Base.metadata,
    sa.Column("destruction_id", sa.ForeignKey("destructions.id"), primary_key=True),
    sa.Column("person_id", sa.ForeignKey("persons.id"), primary_key=True),
)


class Destruction(Base):
    """A destruction record (销毁登记): items, method, date, place, approval, performer and witnesses."""

    __tablename__ = "destructions"

    id: Mapped[int] = mapped_column(primary_key=True)
    method: Mapped[DestructionMethod] = mapped_column(enum_column(DestructionMethod))
    destroyed_on: Mapped[date] = mapped_column(sa.Date, index=True)
    place: Mapped[str] = mapped_column(sa.String(200), default="")  # 销毁地点 / 销毁工作机构
    approval_id: Mapped[int] = mapped_column(sa.ForeignKey("approvals.id"), unique=True)
    performed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("persons.id"))
    note: Mapped[str] = mapped_column(sa.String(1000), default="")
    recorded_by: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    assets = relationship("Asset", secondary=destruction_items, order_by="Asset.registry_no")
    witnesses = relationship("Person", secondary=destruction_witnesses, order_by="Person.name")
    performer = relationship("Person", foreign_keys=[performed_by_id])
    approval = relationship("Approval", foreign_keys=[approval_id])

    @property
    def audit_label(self) -> str:
        return f"destruction #{self.id}"

    @property
    def asset_ids(self) -> list[int]:
        return sorted(a.id for a in self.assets)

    @property
    def witness_ids(self) -> list[int]:
        return sorted(p.id for p in self.witnesses)
