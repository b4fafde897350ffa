"""Approval request and decision forms (pages and API)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import ValidationError

from registry.approvals.models import ApprovalKind, Decision
from registry.core.forms import (DataRequired, EnumSelectField, FlaskForm, IdListField, IdSelectField, IntegerField,
                                 LongTextField, NumberRange, Optional, PersonField, TextField)


def _positive(form, field):
    if field.data is not None and field.data <= 0:
        raise ValidationError(_l("Unknown record."))


class ApprovalForm(FlaskForm):
    kind = EnumSelectField(_l("Kind"), [DataRequired()], enum=ApprovalKind, default="checkout")
    asset_id = IdSelectField(_l("Item (id)"), [Optional(), _positive])
    borrower_id = PersonField(_l("Borrower (person id)"), [Optional(), _positive], scope="active")
    visitor_id = IdSelectField(_l("Visitor (id)"), [Optional(), _positive])
    room_id = IdSelectField(_l("Room (id)"), [Optional(), _positive])
    provision_id = IdSelectField(_l("Provision (id)"), [Optional(), _positive])
    asset_ids = IdListField(_l("Items (ids)"), [Optional()])
    copies = IntegerField(_l("Number of copies"), [Optional(), NumberRange(min=1, max=50)])
    purpose = TextField(_l("Purpose"), [DataRequired()], max_length=500)

    def validate_copies(self, field):
        if field.data and self.kind.data != ApprovalKind.COPY.value:
            raise ValidationError(_l("Only for copy approvals."))

    def details(self) -> dict | None:
        return {"copies": self.copies.data} if self.copies.data else None

    def subject(self) -> dict:
        return {k: self[k].data for k in ("asset_id", "borrower_id", "visitor_id", "room_id", "provision_id",
                                          "asset_ids") if self[k].data not in (None, [])}


class DecisionForm(FlaskForm):
    decision = EnumSelectField(_l("Decision"), [DataRequired()], enum=Decision)
    reason = LongTextField(_l("Reason"), max_length=1000)
