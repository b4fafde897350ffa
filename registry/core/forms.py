"""Form building blocks shared by pages and the JSON API (one validation per field)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.utils import unset_value
from wtforms.validators import (DataRequired, InputRequired, Length, NumberRange, Optional, StopValidation,
                                ValidationError)

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LINE_BREAKS = re.compile(r"[\r\n\t]")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class NoControlChars:
    """Refuse control characters in text at input (SPEC §5a); multi-line fields allow newlines."""

    def __init__(self, multiline: bool = False):
        self.multiline = multiline

    def __call__(self, form, field):
        value = field.data or ""
        if CONTROL_CHARS.search(value) or (not self.multiline and LINE_BREAKS.search(value)):
            raise ValidationError(_l("Control characters are not allowed."))


class TextField(StringField):
    """A single-line string: stripped, control characters refused, length-limited."""

    def __init__(self, label=None, validators=None, max_length: int = 200, **kw):
        validators = list(validators or [])
        validators += [Length(max=max_length), NoControlChars()]
        kw.setdefault("filters", [_strip])
        super().__init__(label, validators, **kw)


class LongTextField(TextAreaField):
    def __init__(self, label=None, validators=None, max_length: int = 4000, **kw):
        validators = list(validators or [])
        validators += [Length(max=max_length), NoControlChars(multiline=True)]
        kw.setdefault("filters", [_strip])
        super().__init__(label, validators, **kw)


class EnumSelectField(SelectField):
    """A select over a LabelledEnum; stores the key string."""

    def __init__(self, label=None, validators=None, enum=None, allow_blank: bool = False, **kw):
        self.enum = enum
        choices = ([("", "—")] if allow_blank else []) + [(m.value, m.label) for m in enum]
        super().__init__(label, validators, choices=choices, **kw)

    def pre_validate(self, form):
        if self.data in ("", None) and any(isinstance(v, Optional) for v in self.validators):
            return
        super().pre_validate(form)


class IdSelectField(IntegerField):
    """An id of another record (a person, a room); the API passes the number, pages a select."""

    coerce_int = True

    def process_formdata(self, valuelist):
        from registry.core.urls import MAX_ID

        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) > MAX_ID:  # no such record; keep it from the driver
            self.data = None
            raise ValueError(_l("Out of range."))


class PersonField(IdSelectField):
    """A person's id (pages: a select, or the person picker of templates/_picker.html). When the id is
    empty, the text typed in the picker's search box (`<name>_q`: an employee number, a picker label
    or an exact name) is resolved among the candidates of `scope` (core.pages.PERSON_SCOPES; the form's
    data are the scope's params, e.g. room_id); an unknown or ambiguous text is an error of this field."""

    def __init__(self, label=None, validators=None, scope: str = "active", **kw):
        super().__init__(label, validators, **kw)
        self.scope = scope
        self.typed_error = False

    def process(self, formdata, data=unset_value, extra_filters=None):
        self.typed_error = False
        super().process(formdata, data, extra_filters)
        if formdata is None or self.data is not None or (self.raw_data and str(self.raw_data[0] or "").strip()):
            return
        from registry.core.pages import resolve_person, typed_text
        from registry.extensions import db

        text = typed_text(formdata, self.name, self.scope)
        if not text:
            return
        self.process_errors = []
        try:
            self.data = resolve_person(db.session, text, self.scope, formdata)
        except ValueError as exc:
            self.process_errors.append(str(exc))
            self.typed_error = True

    def pre_validate(self, form):
        if self.typed_error:
            raise StopValidation()  # the message is already there; not also "required" or "not a number"


class BoolField(BooleanField):
    """A checkbox; from JSON, true/false arrive as 'y'/''."""

    false_values = (False, "false", "False", "0", "", "n", "no", "off")


__all__ = [
    "FlaskForm", "TextField", "LongTextField", "EnumSelectField", "IdSelectField", "PersonField", "BoolField", "DateField",
    "IntegerField", "DataRequired", "InputRequired", "Length", "NumberRange", "Optional", "ValidationError",
    "NoControlChars",
]
