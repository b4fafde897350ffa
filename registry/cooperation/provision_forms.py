"""Provision forms: one per step of the procedure, and one with every field for the JSON API."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import IntegerField

from registry.cooperation.provision_models import ReviewOutcome, Treatment
from registry.core.forms import (DataRequired, DateField, EnumSelectField, FlaskForm, IdSelectField, LongTextField,
                                 NumberRange, Optional, PersonField, TextField, ValidationError)
from registry.core.models import Level
from registry.people.forms import CountryField


def _positive(form, field):
    if field.data is not None and field.data <= 0:
        raise ValidationError(_l("Unknown record."))


class ScopeFields:
    """Step 1: what is provided, to whom, why and on which basis."""

    project_id = IdSelectField(_l("Cooperation project"), [DataRequired(), _positive])
    material = TextField(_l("Material"), [DataRequired()], max_length=500)
    asset_id = IdSelectField(_l("Registered item (id)"), [Optional(), _positive])
    level = EnumSelectField(_l("Classification level"), [Optional()], enum=Level, allow_blank=True)
    copies = IntegerField(_l("Copies"), [Optional(), NumberRange(min=1, max=10000)], default=1)
    recipient = TextField(_l("Recipient organisation"), [DataRequired()], max_length=200)
    recipient_country = CountryField(_l("Recipient country or region"), [DataRequired()])
    purpose = LongTextField(_l("Purpose"), [DataRequired()], max_length=1000)
    legal_basis = TextField(_l("Legal basis"), [DataRequired()], max_length=500)


class ScopeForm(ScopeFields, FlaskForm):
    pass


class ReviewFields:
    """Step 2: the secrecy review (保密审查) of the material."""

    reviewer_id = PersonField(_l("Reviewer"), [Optional(), _positive], scope="active")
    reviewed_on = DateField(_l("Review date"), [Optional()])
    review_outcome = EnumSelectField(_l("Review outcome"), [Optional()], enum=ReviewOutcome, allow_blank=True)
    review_conclusion = LongTextField(_l("Review conclusion"), max_length=4000)


class ReviewForm(ReviewFields, FlaskForm):
    def validate_review_outcome(self, field):
        if not field.data:
            raise ValidationError(_l("This field is required."))


class TreatmentFields:
    """Step 3: technical or declassification treatment (技术处理 / 脱密处理)."""

    treatment = EnumSelectField(_l("Treatment"), [Optional()], enum=Treatment, allow_blank=True)
    treated_on = DateField(_l("Treated on"), [Optional()])
    treatment_note = LongTextField(_l("What was done"), max_length=4000)


class TreatmentForm(TreatmentFields, FlaskForm):
    def validate_treatment(self, field):
        if not field.data:
            raise ValidationError(_l("This field is required."))


class AgreementFields:
    """Step 5: the confidentiality agreement (保密协议) binding the recipient."""

    agreement_no = TextField(_l("Agreement number"), max_length=100)
    agreement_signed_on = DateField(_l("Agreement signed on"), [Optional()])
    agreement_parties = TextField(_l("Parties and their representatives"), max_length=500)


class AgreementForm(AgreementFields, FlaskForm):
    def validate_agreement_no(self, field):
        if not field.data:
            raise ValidationError(_l("This field is required."))

    def validate_agreement_signed_on(self, field):
        if not field.data:
            raise ValidationError(_l("This field is required."))


class ApprovalRequestForm(FlaskForm):
    """Step 4: ask an approver (a provision approval for this record)."""

    purpose = TextField(_l("Reason for the request"), max_length=500)


class ProvidedForm(FlaskForm):
    provided_on = DateField(_l("Provided on"), [Optional()])


class RejectForm(FlaskForm):
    reason = LongTextField(_l("Reason"), [DataRequired()], max_length=1000)


class ProvisionApiForm(ScopeFields, ReviewFields, TreatmentFields, AgreementFields, FlaskForm):
    """Every writable field (POST creates, PATCH records the steps); `approval_id` links an approval."""

    approval_id = IdSelectField(_l("Approval"), [Optional(), _positive])
