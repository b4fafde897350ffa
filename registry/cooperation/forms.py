"""Cooperation forms (pages and API). Projects: ProjectForm and ReviewForm."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l

from registry.cooperation.models import ReviewStatus
from registry.core.forms import (DataRequired, DateField, EnumSelectField, FlaskForm, IdSelectField, LongTextField,
                                 Optional, PersonField, TextField, ValidationError)
from registry.people.forms import CountryField


class _ReviewFields:
    """Cross-field rules shared by the project form and the review form. They run in validate()
    because the date and reviewer fields are optional on their own (a pending review has neither)."""

    def validate(self, extra_validators=None):
        from registry.people.services import unit_today

        ok = super().validate(extra_validators)
        status = self.review_status.data
        decided = status in (ReviewStatus.PASSED.value, ReviewStatus.CONDITIONAL.value, ReviewStatus.REJECTED.value)
        problems = []
        if decided and not self.reviewed_on.data and not self.reviewed_on.errors:
            problems.append((self.reviewed_on, _l("Give the date of the secrecy review.")))
        if self.reviewed_on.data and self.reviewed_on.data > unit_today():
            problems.append((self.reviewed_on, _l("The review date cannot be in the future.")))
        if decided and not self.reviewed_by.data and not self.reviewed_by.errors:
            problems.append((self.reviewed_by, _l("Name the reviewer.")))
        if status in (ReviewStatus.CONDITIONAL.value, ReviewStatus.REJECTED.value) and not self.conclusion.data:
            problems.append((self.conclusion, _l("State the conditions or the reasons in the conclusion.")))
        for field, message in problems:
            field.errors = list(field.errors) + [message]
        return ok and not problems


class ProjectForm(_ReviewFields, FlaskForm):
    name = TextField(_l("Project name"), [DataRequired()], max_length=200)
    partner = TextField(_l("Foreign partner"), [DataRequired()], max_length=200)
    partner_country = CountryField(_l("Partner country or region"), [DataRequired()])
    department = TextField(_l("Responsible department"), max_length=120)
    description = LongTextField(_l("Description"), max_length=4000)
    starts_on = DateField(_l("Starts on"), [Optional()])
    ends_on = DateField(_l("Ends on"), [Optional()])
    review_status = EnumSelectField(_l("Secrecy review"), [DataRequired()], enum=ReviewStatus, default="pending")
    reviewed_by = PersonField(_l("Reviewer (person id)"), [Optional()], scope="active")
    reviewed_on = DateField(_l("Review date"), [Optional()])
    conclusion = LongTextField(_l("Review conclusion"), max_length=4000)

    def validate_ends_on(self, field):
        if field.data and self.starts_on.data and field.data < self.starts_on.data:
            raise ValidationError(_l("Must not be before the start."))


class ReviewForm(_ReviewFields, FlaskForm):
    """Record (or revise) the secrecy review of a project."""

    review_status = EnumSelectField(_l("Secrecy review"), [DataRequired()], enum=ReviewStatus)
    reviewed_by = PersonField(_l("Reviewer"), [Optional()], scope="active")
    reviewed_on = DateField(_l("Review date"), [Optional()], default=date.today)
    conclusion = LongTextField(_l("Review conclusion"), max_length=4000)
