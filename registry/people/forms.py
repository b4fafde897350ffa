"""Person form: the one validation of a person's fields, used by pages, the API and imports."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, ValidationError

from registry.core import countries
from registry.core.forms import (BoolField, DataRequired, DateField, EnumSelectField, FlaskForm, IdSelectField,
                                 LongTextField, NumberRange, Optional, TextField)
from registry.core.models import Category
from registry.people.models import Occasion, PersonStatus


class CountryField(SelectField):
    """ISO 3166 alpha-2 code; the page shows names in the user's language."""

    def __init__(self, label=None, validators=None, **kw):
        super().__init__(label, validators, choices=[], **kw)

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = (valuelist[0] or "").strip().upper()

    def pre_validate(self, form):
        if self.data and self.data not in countries.codes():
            raise ValidationError(_l("Use a two-letter ISO 3166 country or region code."))

    def iter_choices(self):
        self.choices = countries.choices()
        return super().iter_choices()


class PersonForm(FlaskForm):
    name = TextField(_l("Name"), [DataRequired()], max_length=120)
    employee_no = TextField(_l("Employee number"), [DataRequired()], max_length=40)
    department = TextField(_l("Department"), max_length=120)
    position = TextField(_l("Position"), max_length=120)
    nationality = CountryField(_l("Nationality or region"), [DataRequired()], default="CN")
    category = EnumSelectField(_l("Secrecy category"), [DataRequired()], enum=Category, default="none")
    commitment_signed_on = DateField(_l("Commitment letter signed on"), [Optional()])
    commitment_expires_on = DateField(_l("Commitment letter expires on"), [Optional()])
    status = EnumSelectField(_l("Status"), [DataRequired()], enum=PersonStatus, default="active")
    decommission_until = DateField(_l("Decommissioning period ends on"), [Optional()])
    left_on = DateField(_l("Left the post on"), [Optional()])
    phone = TextField(_l("Phone"), max_length=40)
    notes = LongTextField(_l("Notes"), max_length=2000)

    def validate_commitment_expires_on(self, field):
        if field.data and self.commitment_signed_on.data and field.data < self.commitment_signed_on.data:
            raise ValidationError(_l("Must not be before the signing date."))

    def validate(self, extra_validators=None):
        """The end of the decommissioning period is required with that status (Optional() on the
        field would skip an inline validator when the date is empty)."""
        ok = super().validate(extra_validators)
        if self.status.data == PersonStatus.DECOMMISSIONING.value and not self.decommission_until.data:
            self.decommission_until.errors = list(self.decommission_until.errors) + [
                _l("Give the end of the decommissioning period.")]
            return False
        return ok
        if field.data and self.left_on.data and field.data < self.left_on.data:
            raise ValidationError(_l("Must not be before the date the person left the post."))


class TrainingForm(FlaskForm):
    date = DateField(_l("Date"), [DataRequired()])
    course = TextField(_l("Course"), [DataRequired()], max_length=200)
    hours = IdSelectField(_l("Hours"), [Optional(), NumberRange(min=0, max=1000)])


class ReminderForm(FlaskForm):
    date = DateField(_l("Date"), [DataRequired()])
    occasion = EnumSelectField(_l("Occasion"), [DataRequired()], enum=Occasion)
    given_by = IdSelectField(_l("Given by (person id)"), [Optional()])
    description = TextField(_l("Description"), max_length=300)
    acknowledged = BoolField(_l("Acknowledged"))


class LeaveForm(FlaskForm):
    """Take a person off their post (离岗): a decommissioning period (脱密期) until a date, or left at once."""

    left_on = DateField(_l("Left the post on"), [Optional()])
    decommission_until = DateField(_l("Decommissioning period ends on"), [Optional()])

    def validate_decommission_until(self, field):
        if field.data and self.left_on.data and field.data <= self.left_on.data:
            raise ValidationError(_l("Must be after the date the person left the post."))


class AcknowledgeForm(FlaskForm):
    """Mark a secrecy reminder acknowledged (no fields besides the CSRF token)."""
