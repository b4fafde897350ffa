"""Room form (pages and API)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from registry.areas.models import ForeignPolicy
from registry.core.forms import (DataRequired, EnumSelectField, FlaskForm, IdSelectField, IntegerField,
                                 LongTextField, NumberRange, Optional, PersonField, TextField)
from registry.core.models import Level


class RoomForm(FlaskForm):
    code = TextField(_l("Room code"), [DataRequired()], max_length=40)
    name = TextField(_l("Name"), [DataRequired()], max_length=120)
    location = TextField(_l("Building / floor"), max_length=200)
    level = EnumSelectField(_l("Classification level"), [DataRequired()], enum=Level, default="internal")
    foreign_policy = EnumSelectField(_l("Foreign visitors"), [DataRequired()], enum=ForeignPolicy, default="escorted")
    max_visitors_per_escort = IntegerField(_l("Maximum visitors per escort"), [Optional(), NumberRange(min=1, max=50)],
                                           default=5)
    protection = LongTextField(_l("Protective measures"), max_length=2000)
    responsible_id = IdSelectField(_l("Responsible person (id)"), [Optional()])


class AccessForm(FlaskForm):
    person_id = PersonField(_l("Person"), [DataRequired()], scope="active")
