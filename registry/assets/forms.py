"""Asset, checkout, checkin, inspection, copy and label forms: one validation for pages, API and imports."""

from __future__ import annotations

import ipaddress
import re

from flask_babel import lazy_gettext as _l
from wtforms import Field, SelectField
from wtforms.utils import unset_value
from wtforms.validators import StopValidation
from wtforms.widgets import TextArea

from registry.assets.models import AssetKind, InspectionResult, Network, ReturnCondition, Subtype
from registry.core.forms import (BoolField, DataRequired, DateField, EnumSelectField, FlaskForm, IdSelectField,
                                 IntegerField, LongTextField, NumberRange, Optional, PersonField, PersonListField,
                                 TextField,
                                 ValidationError)
from registry.core.models import Level

MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}$")


class StringListField(Field):
    """A list of short texts (departments): repeated keys from JSON, or one per line / comma from a page."""

    widget = TextArea()
    api_schema = {"type": "array", "items": {"type": "string"}}
    row_local = True  # its processing and checks read nothing but its own input (exports.imports.RowForm)

    def process_formdata(self, valuelist):
        items = []
        for raw in valuelist:
            items.extend(p.strip() for p in re.split(r"[\n,，;；]", str(raw)) if p.strip())
        self.data = list(dict.fromkeys(items))

    def process_data(self, value):
        self.data = list(value or [])

    def _value(self):
        return "\n".join(self.data or [])

    def pre_validate(self, form):
        for item in self.data or []:
            if len(item) > 120:
                raise ValidationError(_l("At most 120 characters each."))
            if re.search(r"[\x00-\x1f\x7f]", item):
                raise ValidationError(_l("Control characters are not allowed."))


class AssetForm(FlaskForm):
    """Every field of every kind; services keep the fields of the item's kind."""

    registry_no = TextField(_l("Registry number"), [Optional()], max_length=40,
                            description=_l("Leave empty to generate the next number."))
    kind = EnumSelectField(_l("Kind"), [DataRequired()], enum=AssetKind, default="media")
    subtype = EnumSelectField(_l("Type"), [DataRequired()], enum=Subtype, default="other")
    title = TextField(_l("Title"), [DataRequired()], max_length=300)
    level = EnumSelectField(_l("Classification level"), [DataRequired()], enum=Level, default="confidential")
    secrecy_years = IntegerField(_l("Secrecy period (years)"), [Optional(), NumberRange(min=0, max=100)])
    declassify_on = DateField(_l("Declassify on"), [Optional()])
    custodian_id = PersonField(_l("Custodian"), [Optional()], scope="active")
    room_id = IdSelectField(_l("Home room"), [Optional()])
    serial_no = TextField(_l("Serial number"), max_length=100)
    model = TextField(_l("Model"), max_length=120)
    doc_no = TextField(_l("Document number"), max_length=80)
    originator = TextField(_l("Originating unit"), max_length=120)
    pages = IntegerField(_l("Number of pages"), [Optional(), NumberRange(min=0, max=100000)])
    copies = IntegerField(_l("Copies"), [Optional(), NumberRange(min=1, max=10000)])
    copy_no = IntegerField(_l("Copy number"), [Optional(), NumberRange(min=1, max=10000)])
    hdd_serial = TextField(_l("Hard-disk serial number"), max_length=120)
    mac = TextField(_l("MAC address"), max_length=60)
    network = EnumSelectField(_l("Network"), [Optional()], enum=Network, allow_blank=True)
    os = TextField(_l("Operating system"), max_length=120)
    ip = TextField(_l("IP address"), max_length=60)
    capacity = TextField(_l("Capacity"), max_length=40)
    foreign_supplied = BoolField(_l("Foreign-supplied"))
    scope_departments = StringListField(_l("Need-to-know: departments"))
    scope_person_ids = PersonListField(_l("Need-to-know: people"), scope="active")
    notes = LongTextField(_l("Notes"), max_length=4000)

    def validate_subtype(self, field):
        from registry.assets.models import SUBTYPES_BY_KIND

        kind = self.kind.data
        if not Subtype.has_value(field.data):
            raise ValidationError(_l("Not a subtype of this kind of item."))
        if AssetKind.has_value(kind) and Subtype(field.data) not in SUBTYPES_BY_KIND[AssetKind(kind)]:
            raise ValidationError(_l("Not a subtype of this kind of item."))

    def validate_mac(self, field):
        if field.data and not MAC_RE.match(field.data):
            raise ValidationError(_l("Six hexadecimal pairs, e.g. 3C:52:82:1A:0B:7F."))

    def validate_ip(self, field):
        if field.data:
            try:
                ipaddress.ip_address(field.data)
            except ValueError:
                raise ValidationError(_l("Not an IP address.")) from None

    def validate_declassify_on(self, field):
        if field.data and field.data.year < 1950:
            raise ValidationError(_l("Not a plausible date."))


class ComputerField(IdSelectField):
    """The computer a storage medium is used with: its id (a select, in units with few computers), or
    its registry number typed or scanned into `<name>_no` (the page's text box when there are more
    computers than PICKER_MAX_OPTIONS). An unknown number is an error of this field."""

    def process(self, formdata, data=unset_value, extra_filters=None):
        self.typed_error = False
        super().process(formdata, data, extra_filters)
        if formdata is None or self.data is not None or not hasattr(formdata, "get"):
            return
        text = str(formdata.get(f"{self.name}_no") or "").strip()[:64]
        if not text:
            return
        from registry.assets.services import computer_id_by_number
        from registry.extensions import db

        self.process_errors = []
        self.data = computer_id_by_number(db.session, text)
        if self.data is None:
            self.process_errors.append(_l("No computer has the registry number %(number)s.", number=text))
            self.typed_error = True

    def pre_validate(self, form):
        if self.typed_error:
            raise StopValidation()


class CheckoutForm(FlaskForm):
    borrower_id = PersonField(_l("Borrower"), [DataRequired()], scope="active")
    purpose = TextField(_l("Purpose"), [DataRequired()], max_length=300)
    due_at = TextField(_l("Due"), [Optional()], max_length=40,
                       description=_l("Empty: the default for the level."))
    approval_id = IdSelectField(_l("Approval"), [Optional()])
    device_id = ComputerField(_l("Connected computer"), [Optional()])


class CheckinForm(FlaskForm):
    condition = EnumSelectField(_l("Condition on return"), [DataRequired()], enum=ReturnCondition, default="intact")
    note = LongTextField(_l("Note"), max_length=2000)


class InspectionForm(FlaskForm):
    date = DateField(_l("Date"), [DataRequired()])
    inspector = TextField(_l("Inspected by"), [DataRequired()], max_length=200)
    result = EnumSelectField(_l("Result"), [DataRequired()], enum=InspectionResult, default="passed")
    notes = LongTextField(_l("Notes"), max_length=2000)


class CopyForm(FlaskForm):
    count = IntegerField(_l("Number of copies"), [DataRequired(), NumberRange(min=1, max=50)], default=1)
    approval_id = IdSelectField(_l("Approval"), [Optional()])


class LabelForm(FlaskForm):
    reason = TextField(_l("Reason"), max_length=200)


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[("missing", _l("Missing")), ("available", _l("Available"))])
    note = TextField(_l("Note"), max_length=300)
