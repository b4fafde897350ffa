"""Inventory and destruction forms (pages and JSON API)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import ValidationError

from registry.core.forms import (DataRequired, DateField, EnumSelectField, FlaskForm, IdListField, IdSelectField,
                                 LongTextField, Optional, PersonField, TextField)
from registry.stocktake.models import DestructionMethod


def _positive(form, field):
    if field.data is not None and field.data <= 0:
        raise ValidationError(_l("Unknown record."))


class InventoryForm(FlaskForm):
    """Start an inventory: the rooms in scope (none = every room) and a note."""

    room_ids = IdListField(_l("Rooms (ids; none = every room)"), [Optional()], keep_order=True)
    note = TextField(_l("Note"), max_length=500)


class ScanForm(FlaskForm):
    """One scan of the walk: a label URL, a label code or a registry number, and the room it was read in."""

    code = TextField(_l("Label or registry number"), [DataRequired()], max_length=300)
    room_id = IdSelectField(_l("Room"), [Optional(), _positive])


class DestructionForm(FlaskForm):
    """A destruction record (SPEC §6 field names)."""

    asset_ids = IdListField(_l("Items (ids)"), [DataRequired()], keep_order=True)
    method = EnumSelectField(_l("Method"), [DataRequired()], enum=DestructionMethod)
    destroyed_on = DateField(_l("Destroyed on"), [Optional()])
    approval_id = IdSelectField(_l("Approval"), [Optional(), _positive])
    performed_by = IdSelectField(_l("Performed by"), [DataRequired(), _positive])
    witness_ids = IdListField(_l("Witnesses"), [DataRequired()], keep_order=True)
    place = TextField(_l("Place"), max_length=200)
    note = LongTextField(_l("Note"), max_length=1000)


class DestructionPageForm(FlaskForm):
    """The page names the items by registry number (typed or scanned, one per line)."""

    asset_nos = LongTextField(_l("Items (registry numbers, one per line)"), [DataRequired()], max_length=8000)
    method = EnumSelectField(_l("Method"), [DataRequired()], enum=DestructionMethod)
    destroyed_on = DateField(_l("Destroyed on"), [Optional()])
    approval_id = IdSelectField(_l("Approval"), [Optional(), _positive])
    performed_by = PersonField(_l("Performed by"), [DataRequired(), _positive], scope="active")
    witness_1 = PersonField(_l("First witness"), [DataRequired(), _positive], scope="active")
    witness_2 = PersonField(_l("Second witness"), [DataRequired(), _positive], scope="active")
    witness_3 = PersonField(_l("Third witness (optional)"), [Optional(), _positive], scope="active")
    place = TextField(_l("Place"), max_length=200)
    note = LongTextField(_l("Note"), max_length=1000)

    def numbers(self) -> list[str]:
        return [n.strip() for n in (self.asset_nos.data or "").replace(",", "\n").splitlines() if n.strip()]


class DestructionApprovalForm(FlaskForm):
    """Ask for the destruction approval of a batch of items."""

    asset_nos = LongTextField(_l("Items (registry numbers, one per line)"), [DataRequired()], max_length=8000)
    purpose = TextField(_l("Reason"), [DataRequired()], max_length=500)

    def numbers(self) -> list[str]:
        return [n.strip() for n in (self.asset_nos.data or "").replace(",", "\n").splitlines() if n.strip()]
