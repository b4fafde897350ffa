"""Visitor, area-permission and entry forms: one validation each, used by pages, the API and the CLI."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from wtforms import Field
from wtforms.widgets import DateTimeLocalInput

from registry.core.errors import ValidationFailed
from registry.core.forms import (BoolField, DataRequired, DateField, EnumSelectField, FlaskForm, IdSelectField,
                                 LongTextField, Optional, PersonField, TextField, ValidationError)
from registry.people.forms import CountryField
from registry.visits.models import DeviceDisposition, DeviceKind, IdDocType

DOC_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{2,39}$")


def normalise_doc_no(value: str | None) -> str:
    """Document numbers are compared without spaces and in upper case."""
    return re.sub(r"\s+", "", value or "").upper()


def unit_zone() -> ZoneInfo:
    from registry.core.settings import get_settings

    try:
        return ZoneInfo(get_settings()["timezone"] or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


class ZonedDateTimeField(Field):
    """A point in time: ISO 8601 with an offset (API) or a local 'YYYY-MM-DDTHH:MM' (the page's
    datetime-local input, read in the unit's time zone). Data is timezone-aware UTC."""

    widget = DateTimeLocalInput()
    api_schema = {"type": ["string", "null"], "format": "date-time"}

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data:
            return self.data.astimezone(unit_zone()).strftime("%Y-%m-%dT%H:%M")
        return ""

    def process_formdata(self, valuelist):
        if not valuelist or not (valuelist[0] or "").strip():
            self.data = None
            return
        text = valuelist[0].strip()[:40]
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.data = None
            raise ValueError(_l("Use a date and time such as 2026-05-01T09:00.")) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=unit_zone())
        self.data = value.astimezone(ZoneInfo("UTC"))


class VisitorForm(FlaskForm):
    name = TextField(_l("Name"), [DataRequired()], max_length=120)
    name_alt = TextField(_l("Name in a second script (译名 / Latin)"), max_length=120)
    nationality = CountryField(_l("Nationality or region"), [DataRequired()], default="CN")
    id_doc_type = EnumSelectField(_l("ID document type"), [DataRequired()], enum=IdDocType, default="passport")
    id_doc_no = TextField(_l("ID document number"), [DataRequired()], max_length=40)
    organization = TextField(_l("Organisation"), max_length=200)
    position = TextField(_l("Position / title"), max_length=120)
    purpose = TextField(_l("Purpose of visit"), max_length=500)
    host_id = PersonField(_l("Host (person id)"), [Optional()], scope="active")
    project_id = IdSelectField(_l("Cooperation project (id)"), [Optional()])
    arrives_on = DateField(_l("Expected arrival"), [Optional()])
    departs_on = DateField(_l("Expected departure"), [Optional()])
    blocked = BoolField(_l("Blocked (on the block list)"))
    blocked_reason = TextField(_l("Reason for blocking"), max_length=500)
    notes = LongTextField(_l("Notes"), max_length=2000)

    def validate_id_doc_no(self, field):
        if field.data and not DOC_NO.match(field.data):
            raise ValidationError(_l("Letters, digits, spaces and hyphens only (3 to 40 characters)."))

    def validate_departs_on(self, field):
        if field.data and self.arrives_on.data and field.data < self.arrives_on.data:
            raise ValidationError(_l("Must not be before the expected arrival."))

    def validate_blocked_reason(self, field):
        if self.blocked.data and not field.data:
            raise ValidationError(_l("Give the reason for blocking this visitor."))


class BlockForm(FlaskForm):
    reason = TextField(_l("Reason for blocking"), [DataRequired()], max_length=500)


class PermissionForm(FlaskForm):
    room_id = IdSelectField(_l("Room"), [DataRequired()])
    valid_from = ZonedDateTimeField(_l("Valid from"), [DataRequired()])
    valid_until = ZonedDateTimeField(_l("Valid until"), [DataRequired()])
    escort_required = BoolField(_l("Escort required"), default=True)
    approval_id = IdSelectField(_l("Approval (id)"), [Optional()])
    note = TextField(_l("Note"), max_length=500)

    def validate_valid_until(self, field):
        if field.data and self.valid_from.data and field.data <= self.valid_from.data:
            raise ValidationError(_l("Must be after the start of the permission."))


class RevokeForm(FlaskForm):
    reason = TextField(_l("Reason"), max_length=500)


class ApprovalRequestForm(FlaskForm):
    room_id = IdSelectField(_l("Room"), [DataRequired()])
    purpose = TextField(_l("Purpose"), [DataRequired()], max_length=500)


class EntryForm(FlaskForm):
    """An entry: who, where, with whom. Devices are parsed by parse_devices (API) or read from
    the guard page's per-device radio buttons (device_<kind>)."""

    visitor_id = IdSelectField(_l("Visitor"), [DataRequired()])
    room_id = IdSelectField(_l("Room"), [DataRequired()])
    escort_id = PersonField(_l("Escort"), [Optional()], scope="escort")
    note = TextField(_l("Note"), max_length=500)


def parse_devices(value) -> list[dict]:
    """Validate the structured device list of an entry: [{"kind", "disposition", "note"?}].

    Raises ValidationFailed (422) naming the `devices` field."""
    if value in (None, ""):
        return []
    errors = []
    out = []
    if not isinstance(value, list) or len(value) > 20:
        raise ValidationFailed(details={"devices": [str(_l("A list of at most 20 devices."))]})
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) - {"kind", "disposition", "note"}:
            errors.append(str(_l("Device %(n)d: an object with kind, disposition and note.", n=i + 1)))
            continue
        kind, disp, note = item.get("kind"), item.get("disposition", "deposited"), item.get("note") or ""
        if kind not in DeviceKind.values():
            errors.append(str(_l("Device %(n)d: kind must be one of %(values)s.", n=i + 1,
                                 values=", ".join(DeviceKind.values()))))
            continue
        if disp not in DeviceDisposition.values():
            errors.append(str(_l("Device %(n)d: disposition must be one of %(values)s.", n=i + 1,
                                 values=", ".join(DeviceDisposition.values()))))
            continue
        if not isinstance(note, str) or len(note) > 200 or re.search(r"[\x00-\x1f\x7f]", note):
            errors.append(str(_l("Device %(n)d: the note must be a short single line.", n=i + 1)))
            continue
        out.append({"kind": kind, "disposition": disp, "note": note.strip()})
    if errors:
        raise ValidationFailed(details={"devices": errors})
    return out


def devices_from_form(form) -> list[dict]:
    """The guard page posts device_<kind> = deposited | carried (absent = not brought)."""
    out = []
    for kind in DeviceKind:
        disp = (form.get(f"device_{kind.value}") or "").strip()
        if disp in DeviceDisposition.values():
            out.append({"kind": kind.value, "disposition": disp, "note": ""})
    note = (form.get("device_note") or "").strip()[:200]
    if note:  # the description belongs to "other device"; naming one implies it was declared
        other = next((d for d in out if d["kind"] == DeviceKind.OTHER.value), None)
        if other is None:
            other = {"kind": DeviceKind.OTHER.value, "disposition": DeviceDisposition.CARRIED.value, "note": ""}
            out.append(other)
        other["note"] = note
    return parse_devices(out)
