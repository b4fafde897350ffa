"""Cooperation project (对外合作项目) and its secrecy review (保密审查).

Provisions of material to foreign parties (对外提供资料) belong to this package too and
reference a project; they are kept in their own section below the project.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.core.models import Base, LabelledEnum, UTCDateTime, enum_column, utcnow


# ---------------------------------------------------------------- projects

class ReviewStatus(LabelledEnum):
    """Outcome of a project's secrecy review. Passed and conditional count as passed."""

    PENDING = "pending", _l("Review pending")
    PASSED = "passed", _l("Passed")
    CONDITIONAL = "conditional", _l("Passed with conditions")
    REJECTED = "rejected", _l("Rejected at review")


PASSED_REVIEW = (ReviewStatus.PASSED, ReviewStatus.CONDITIONAL)


class CooperationProject(Base):
    __tablename__ = "cooperation_projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    partner: Mapped[str] = mapped_column(sa.String(200), default="")  # foreign partner organisation
    partner_country: Mapped[str] = mapped_column(sa.String(2), default="")
    department: Mapped[str] = mapped_column(sa.String(120), default="")  # 承办部门
    description: Mapped[str] = mapped_column(sa.Text, default="")
    starts_on: Mapped[date | None] = mapped_column(sa.Date)
    ends_on: Mapped[date | None] = mapped_column(sa.Date)
    review_status: Mapped[ReviewStatus] = mapped_column(enum_column(ReviewStatus), default=ReviewStatus.PENDING,
                                                        index=True)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("persons.id"))
    reviewed_on: Mapped[date | None] = mapped_column(sa.Date)
    conclusion: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    reviewer = relationship("Person", foreign_keys=[reviewed_by_id])

    __table_args__ = (
        sa.CheckConstraint("review_status = 'pending' OR reviewed_on IS NOT NULL", name="reviewed_has_date"),
        sa.CheckConstraint("ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on", name="period_order"),
    )

    @property
    def audit_label(self) -> str:
        return self.name

    @property
    def review_passed(self) -> bool:
        """Passed or passed with conditions: visitors may be given area permissions."""
        return self.review_status in PASSED_REVIEW
