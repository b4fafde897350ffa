"""Provision of material to a foreign party (对外提供资料) and the five steps of its procedure (DOMAIN R18):
(1) scope, (2) secrecy review, (3) technical treatment, (4) approval, (5) confidentiality agreement."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from registry.core.models import Base, LabelledEnum, Level, UTCDateTime, enum_column, utcnow


class ProvisionStatus(LabelledEnum):
    """States of a provision. `requested`, `provided` and `rejected` are stored; `approved` is derived:
    a requested provision with a granted approval (Provision.effective_status, and its SQL twin
    provision_services.status_condition). `provided` and `rejected` are final."""

    REQUESTED = "requested", _l("Requested")
    APPROVED = "approved", _l("Approved")
    PROVIDED = "provided", _l("Provided")
    REJECTED = "rejected", _l("Rejected")


class ReviewOutcome(LabelledEnum):
    """Outcome of the secrecy review (保密审查) of the material itself."""

    PASSED = "passed", _l("May be provided")
    CONDITIONAL = "conditional", _l("May be provided after treatment")
    REJECTED = "rejected", _l("Must not be provided")


PASSING_OUTCOMES = (ReviewOutcome.PASSED, ReviewOutcome.CONDITIONAL)


class Treatment(LabelledEnum):
    """Technical treatment (技术处理) done before the material leaves the unit."""

    NONE_NEEDED = "none_needed", _l("None needed")
    DECLASSIFIED = "declassified", _l("Declassification treatment (脱密处理)")
    TECHNICAL = "technical", _l("Technical treatment (技术处理)")
    EXTRACT = "extract", _l("Extract or summary only")


class Provision(Base):
    """One provision of material to a foreign recipient within a cooperation project."""

    __tablename__ = "provisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("cooperation_projects.id"), index=True)
    # (1) scope
    material: Mapped[str] = mapped_column(sa.String(500))
    asset_id: Mapped[int | None] = mapped_column(sa.ForeignKey("assets.id"), index=True)
    level: Mapped[Level] = mapped_column(enum_column(Level), index=True)
    recipient: Mapped[str] = mapped_column(sa.String(200))
    recipient_country: Mapped[str] = mapped_column(sa.String(2))
    purpose: Mapped[str] = mapped_column(sa.String(1000), default="")
    legal_basis: Mapped[str] = mapped_column(sa.String(500), default="")  # contract clause, agreement, approval doc
    copies: Mapped[int] = mapped_column(sa.Integer, default=1)
    # (2) secrecy review of the material
    reviewer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("persons.id"))
    reviewed_on: Mapped[date | None] = mapped_column(sa.Date)
    review_outcome: Mapped[ReviewOutcome | None] = mapped_column(enum_column(ReviewOutcome), nullable=True)
    review_conclusion: Mapped[str] = mapped_column(sa.Text, default="")
    # (3) technical treatment
    treatment: Mapped[Treatment | None] = mapped_column(enum_column(Treatment), nullable=True)
    treated_on: Mapped[date | None] = mapped_column(sa.Date)
    treatment_note: Mapped[str] = mapped_column(sa.Text, default="")
    # (4) approval (registry.approvals, kind `provision`, subject provision_id)
    approval_id: Mapped[int | None] = mapped_column(sa.ForeignKey("approvals.id"), index=True)
    # (5) confidentiality agreement (保密协议)
    agreement_no: Mapped[str] = mapped_column(sa.String(100), default="")
    agreement_signed_on: Mapped[date | None] = mapped_column(sa.Date)
    agreement_parties: Mapped[str] = mapped_column(sa.String(500), default="")  # 甲方 / 乙方 and representatives
    # outcome
    status: Mapped[ProvisionStatus] = mapped_column(enum_column(ProvisionStatus), default=ProvisionStatus.REQUESTED,
                                                    index=True)
    provided_on: Mapped[date | None] = mapped_column(sa.Date)
    provided_by: Mapped[str] = mapped_column(sa.String(64), default="")
    rejected_reason: Mapped[str] = mapped_column(sa.String(1000), default="")
    requested_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    project = relationship("CooperationProject", foreign_keys=[project_id])
    asset = relationship("Asset", foreign_keys=[asset_id])
    reviewer = relationship("Person", foreign_keys=[reviewer_id])
    approval = relationship("Approval", foreign_keys=[approval_id])
    requester = relationship("User", foreign_keys=[requested_by])
    approvals = relationship("Approval", primaryjoin="Approval.provision_id == Provision.id",
                             foreign_keys="Approval.provision_id", viewonly=True, order_by="Approval.id")

    __table_args__ = (
        sa.CheckConstraint("copies >= 1", name="copies_positive"),
        sa.CheckConstraint("status <> 'provided' OR provided_on IS NOT NULL", name="provided_has_date"),
    )

    @property
    def audit_label(self) -> str:
        return f"provision #{self.id} {self.material[:60]}"

    def approval_list(self) -> list:
        """Every approval requested for this provision, oldest first (read fresh: approvers decide them
        in another domain, so a cached relationship could be stale within a transaction)."""
        session = object_session(self)
        if session is None or self.id is None:
            return list(self.approvals)
        from registry.approvals.models import Approval

        return list(session.scalars(sa.select(Approval).where(Approval.provision_id == self.id).order_by(Approval.id)))

    @property
    def current_approval(self):
        """The approval that counts: the linked one, else the newest one requested for this provision."""
        approvals = self.approval_list()
        if self.approval_id is not None:
            linked = next((a for a in approvals if a.id == self.approval_id), None)
            if linked is not None:
                return linked
        return approvals[-1] if approvals else None

    @property
    def approval_granted(self) -> bool:
        """An approval for this provision was approved (and possibly used already)."""
        return any(a.status.value in ("approved", "used") for a in self.approval_list())

    @property
    def effective_status(self) -> ProvisionStatus:
        """The status shown and exported: a requested provision whose approval was granted is `approved`."""
        if self.status == ProvisionStatus.REQUESTED and self.approval_granted:
            return ProvisionStatus.APPROVED
        return ProvisionStatus(self.status)

    @property
    def has_agreement(self) -> bool:
        return bool((self.agreement_no or "").strip()) and self.agreement_signed_on is not None

    @property
    def review_passed(self) -> bool:
        return self.review_outcome in PASSING_OUTCOMES

    @property
    def is_open(self) -> bool:
        return self.status in (ProvisionStatus.REQUESTED, ProvisionStatus.APPROVED)
