"""Form building blocks shared by pages and the JSON API (one validation per field)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, Field, IntegerField, SelectField, StringField, TextAreaField
from wtforms.utils import unset_value
from wtforms.widgets import TextInput
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


class _TypedPeople:
    """What the person fields share: the candidates' `scope` (core.pages.PERSON_SCOPES; the form's data
    are the scope's params, e.g. room_id), the text typed in the picker's search box (`<name>_q`)
    resolved to a person, and an unknown or ambiguous text as an error of the field."""

    def __init__(self, label=None, validators=None, scope: str = "active", **kw):
        super().__init__(label, validators, **kw)
        self.scope = scope
        self.typed_error = False

    def typed(self, formdata) -> str:
        from registry.core.pages import typed_text

        return typed_text(formdata, self.name, self.scope)

    def resolve(self, text: str, formdata) -> int | None:
        """The id of the person typed as `text`, or None with the message among the field's errors."""
        from registry.core.pages import resolve_person
        from registry.extensions import db

        try:
            return resolve_person(db.session, text, self.scope, formdata)
        except ValueError as exc:
            self.process_errors.append(str(exc))
            self.typed_error = True
            return None

    def pre_validate(self, form):
        if self.typed_error:
            raise StopValidation()  # the message is already there; not also "required" or "not a number"


class PersonField(_TypedPeople, IdSelectField):
    """A person's id (pages: a select, or the person picker of templates/_picker.html). When the id is
    empty, the text typed in the picker's search box (an employee number, a picker label or an exact
    name) is resolved among the candidates of `scope`."""

    def process(self, formdata, data=unset_value, extra_filters=None):
        self.typed_error = False
        super().process(formdata, data, extra_filters)
        if formdata is None or self.data is not None or (self.raw_data and str(self.raw_data[0] or "").strip()):
            return
        text = self.typed(formdata)
        if text:
            self.process_errors = []
            self.data = self.resolve(text, formdata)


class IdListField(Field):
    """A list of record ids: repeated keys (JSON lists, checkboxes) or one comma/space separated text.
    Sorted without repeats, or as given with `keep_order=True`."""

    widget = TextInput()
    api_schema = {"type": "array", "items": {"type": "integer"}}

    def __init__(self, label=None, validators=None, keep_order: bool = False, **kw):
        super().__init__(label, validators, **kw)
        self.keep_order = keep_order

    def process_formdata(self, valuelist):
        ids = []
        for raw in valuelist:
            for part in str(raw).replace(",", " ").split():
                if not part.isdigit() or len(part) > 12:
                    self.data = None
                    raise ValueError(_l("Give whole numbers separated by commas."))
                ids.append(int(part))
        self.data = ids if self.keep_order else sorted(set(ids))

    def _value(self):
        return ", ".join(str(i) for i in (self.data or []))


class PersonListField(_TypedPeople, IdListField):
    """Ids of people (e.g. an item's need-to-know list): repeated keys (the multi picker's checkboxes,
    a <select multiple>, a JSON list) or one comma/space separated text of ids. On pages, the multi
    picker's search box (`<name>_q`) may also add people by employee number (several separated by
    commas, semicolons or 、; a picker label "Name (number)" works too), resolved among the candidates
    of `scope` as PersonField does."""

    TYPED_SPLIT = re.compile(r"[,，;；、\r\n]+")

    def process(self, formdata, data=unset_value, extra_filters=None):
        self.typed_error = False
        super().process(formdata, data, extra_filters)
        if formdata is None or not hasattr(formdata, "getlist"):
            return
        text = self.typed(formdata)
        if not text:
            return
        ids = list(self.data or [])
        for part in self.TYPED_SPLIT.split(text)[:50]:
            if part.strip():
                ids.append(self.resolve(part, formdata))
        self.data = sorted({i for i in ids if i is not None})

    def process_data(self, value):
        self.data = sorted(set(value or []))


class BoolField(BooleanField):
    """A checkbox; from JSON, true/false arrive as 'y'/''."""

    false_values = (False, "false", "False", "0", "", "n", "no", "off")


__all__ = [
    "FlaskForm", "TextField", "LongTextField", "EnumSelectField", "IdSelectField", "IdListField", "PersonField", "PersonListField", "BoolField", "DateField",
    "IntegerField", "DataRequired", "InputRequired", "Length", "NumberRange", "Optional", "ValidationError",
    "NoControlChars",
]
