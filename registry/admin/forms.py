"""Unit settings form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import URLField, ValidationError

from registry.core.forms import BoolField, DataRequired, FlaskForm, IntegerField, NumberRange, Optional, TextField
from registry.core.models import Level
from registry.people.forms import CountryField


def _tz_ok(form, field):
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(field.data)
    except Exception:
        raise ValidationError(_l("Unknown time zone (e.g. Asia/Shanghai).")) from None


class SettingsForm(FlaskForm):
    unit_name = TextField(_l("Unit name (printed on exports)"), [DataRequired()], max_length=120)
    unit_short_name = TextField(_l("Unit short name (printed on labels)"), [DataRequired()], max_length=20)
    home_country = CountryField(_l("Home country"), [DataRequired()])
    timezone = TextField(_l("Time zone"), [DataRequired(), _tz_ok], max_length=60)
    base_url = URLField(_l("Base URL for labels (what QR codes point to)"), [DataRequired()])
    staff_self_checkout = BoolField(_l("Staff may check out to themselves by scanning (level ≤ Confidential)"))
    require_totp_for_privileged = BoolField(_l("Require two-factor sign-in for administrators and officers"))
    session_idle_minutes = IntegerField(_l("Idle timeout (minutes)"), [DataRequired(), NumberRange(min=2, max=480)])
    session_absolute_minutes = IntegerField(_l("Absolute session limit (minutes)"),
                                            [DataRequired(), NumberRange(min=10, max=7 * 24 * 60)])
    registry_prefix_media = TextField(_l("Registry number prefix: media"), [DataRequired()], max_length=8)
    registry_prefix_computer = TextField(_l("Registry number prefix: computers"), [DataRequired()], max_length=8)
    registry_prefix_storage = TextField(_l("Registry number prefix: removable storage"), [DataRequired()], max_length=8)
    registry_prefix_equipment = TextField(_l("Registry number prefix: equipment"), [DataRequired()], max_length=8)

    def validate_base_url(self, field):
        if not (field.data or "").startswith(("http://", "https://")):
            raise ValidationError(_l("Must start with http:// or https://"))


# Due-date defaults and maxima per level (days; 0 = end of the same day).
for _lvl in Level:
    setattr(SettingsForm, f"due_days_{_lvl.value}", IntegerField(
        _l("Default loan (days): %(level)s", level=_lvl.label), [Optional(), NumberRange(min=0, max=365)]))
    setattr(SettingsForm, f"max_days_{_lvl.value}", IntegerField(
        _l("Maximum loan (days): %(level)s", level=_lvl.label), [Optional(), NumberRange(min=0, max=3650)]))


SETTING_KEYS = [name for name in (
    "unit_name", "unit_short_name", "home_country", "timezone", "base_url", "staff_self_checkout",
    "require_totp_for_privileged", "session_idle_minutes", "session_absolute_minutes", "registry_prefix_media",
    "registry_prefix_computer", "registry_prefix_storage", "registry_prefix_equipment",
)] + [f"{kind}_days_{lvl.value}" for lvl in Level for kind in ("due", "max")]
