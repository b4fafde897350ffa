"""The Approval record (SPEC §3): kind, subject, requester, decision, and its single use."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.core.models import Base, JSONText, LabelledEnum, UTCDateTime, enum_column, utcnow


class ApprovalKind(LabelledEnum):
    CHECKOUT = "checkout", _l("Checkout")
    AREA_PERMISSION = "area_permission", _l("Area permission")
    PROVISION = "provision", _l("Provision to a foreign party")
    DESTRUCTION = "destruction", _l("Destruction")
    COPY = "copy", _l("Copy")


class ApprovalStatus(LabelledEnum):
    PENDING = "pending", _l("Pending")
    APPROVED = "approved", _l("Approved")
    REJECTED = "rejected", _l("Rejected")
    USED = "used", _l("Used")
    CANCELLED = "cancelled", _l("Cancelled")


class Decision(LabelledEnum):
    APPROVED = "approved", _l("Approve")
    REJECTED = "rejected", _l("Reject")


class Approval(Base):
    """One approval request. The subject fields used depend on the kind (services.SUBJECT_FIELDS).

    visitor_id and provision_id are plain integers: their tables belong to other domains,
    which register loaders for them (services.SUBJECT_LOADERS).
    """

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ApprovalKind] = mapped_column(enum_column(ApprovalKind), index=True)
    status: Mapped[ApprovalStatus] = mapped_column(enum_column(ApprovalStatus), default=ApprovalStatus.PENDING,
                                                   index=True)
    asset_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assets.id"), index=True)
    borrower_id: Mapped[int | None] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    visitor_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    room_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rooms.id"))
    provision_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    asset_ids: Mapped[list | None] = mapped_column(JSONText)
    purpose: Mapped[str] = mapped_column(sa.String(500), default="")
    details: Mapped[dict | None] = mapped_column(JSONText)  # kind-specific extras (e.g. a visit window)
    requested_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)  # inbox order
    decided_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(sa.String(1000), default="")
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_for: Mapped[str | None] = mapped_column(sa.String(80))  # e.g. "checkouts#12"
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    requester = relationship("User", foreign_keys=[requested_by])
    decider = relationship("User", foreign_keys=[decided_by])
    asset = relationship("Asset", foreign_keys=[asset_id])
    borrower = relationship("Person", foreign_keys=[borrower_id])
    room = relationship("Room", foreign_keys=[room_id])

    __table_args__ = (
        sa.Index("ix_approvals_kind_status", "kind", "status"),
        sa.CheckConstraint("status IN ('pending', 'cancelled') OR decided_at IS NOT NULL", name="decided_has_time"),
    )

    @property
    def audit_label(self) -> str:
        return f"approval #{self.id} {self.kind.value}"

    @property
    def is_open(self) -> bool:
        return self.status in (ApprovalStatus.PENDING, ApprovalStatus.APPROVED)
