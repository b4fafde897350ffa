"""Cooperation forms (pages and API). Projects: ProjectForm and ReviewForm."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l

from registry.cooperation.models import ReviewStatus
from registry.core.forms import (DataRequired, DateField, EnumSelectField, FlaskForm, IdSelectField, LongTextField,
                                 Optional, TextField, ValidationError)
from registry.people.forms import CountryField


class _ReviewFields:
    """Validation shared by the project form and the review form."""

    def validate_reviewed_on(self, field):
        if self.review_status.data != ReviewStatus.PENDING.value and not field.data:
            raise ValidationError(_l("Give the date of the secrecy review."))
        if field.data and field.data > date.today():
            raise ValidationError(_l("The review date cannot be in the future."))

    def validate_reviewed_by(self, field):
        if self.review_status.data != ReviewStatus.PENDING.value and not field.data:
            raise ValidationError(_l("Name the reviewer."))

    def validate_conclusion(self, field):
        if self.review_status.data in (ReviewStatus.CONDITIONAL.value, ReviewStatus.REJECTED.value) \
                and not field.data:
            raise ValidationError(_l("State the conditions or the reasons in the conclusion."))


class ProjectForm(_ReviewFields, FlaskForm):
    name = TextField(_l("Project name"), [DataRequired()], max_length=200)
    partner = TextField(_l("Foreign partner"), [DataRequired()], max_length=200)
    partner_country = CountryField(_l("Partner country or region"), [DataRequired()])
    department = TextField(_l("Responsible department"), max_length=120)
    description = LongTextField(_l("Description"), max_length=4000)
    starts_on = DateField(_l("Starts on"), [Optional()])
    ends_on = DateField(_l("Ends on"), [Optional()])
    review_status = EnumSelectField(_l("Secrecy review"), [DataRequired()], enum=ReviewStatus, default="pending")
    reviewed_by = IdSelectField(_l("Reviewer (person id)"), [Optional()])
    reviewed_on = DateField(_l("Review date"), [Optional()])
    conclusion = LongTextField(_l("Review conclusion"), max_length=4000)

    def validate_ends_on(self, field):
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("Must not be before the start."))


class ReviewForm(_ReviewFields, FlaskForm):
    """Record (or revise) the secrecy review of a project."""

    review_status = EnumSelectField(_l("Secrecy review"), [DataRequired()], enum=ReviewStatus)
    reviewed_by = IdSelectField(_l("Reviewer"), [Optional()])
    reviewed_on = DateField(_l("Review date"), [Optional()], default=date.today)
    conclusion = LongTextField(_l("Review conclusion"), max_length=4000)
