"""Sign-in, setup, account and user-administration forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, PasswordField, SelectField, StringField

from registry.auth.models import Role
from registry.core.forms import BoolField, DataRequired, EnumSelectField, FlaskForm, IdSelectField, Length, Optional, TextField


class LoginUsernameField(StringField):
    """What was typed as a user name. Not refused for odd characters: every attempt goes through
    authenticate(), so it is throttled and recorded (control characters escaped) like any other."""

    def __init__(self, label=None, validators=None, **kw):
        super().__init__(label, [DataRequired(), Length(max=64), *(validators or [])],
                         filters=[lambda v: v.strip() if isinstance(v, str) else v], **kw)


class LoginForm(FlaskForm):
    username = LoginUsernameField(_l("User name"))
    password = PasswordField(_l("Password"), [DataRequired(), Length(max=256)])
    totp = TextField(_l("Authenticator code"), [Optional()], max_length=20)
    next = HiddenField()


class SetupForm(FlaskForm):
    token = TextField(_l("Setup token (printed on the server console)"), [DataRequired()], max_length=100)
    username = TextField(_l("Administrator user name"), [DataRequired()], max_length=64)
    password = PasswordField(_l("Password"), [DataRequired(), Length(max=256)])
    confirm = PasswordField(_l("Repeat the password"), [DataRequired(), Length(max=256)])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), [DataRequired(), Length(max=256)])
    new_password = PasswordField(_l("New password"), [DataRequired(), Length(max=256)])
    confirm = PasswordField(_l("Repeat the new password"), [DataRequired(), Length(max=256)])


class ReauthForm(FlaskForm):
    password = PasswordField(_l("Password"), [DataRequired(), Length(max=256)])
    next = HiddenField()


class TotpConfirmForm(FlaskForm):
    code = TextField(_l("Code from the app"), [DataRequired()], max_length=10)


class LanguageForm(FlaskForm):
    lang = SelectField(_l("Language"), choices=[("zh_CN", "中文"), ("en", "English")])
    next = HiddenField()


class UserCreateForm(FlaskForm):
    username = TextField(_l("User name"), [DataRequired()], max_length=64)
    role = EnumSelectField(_l("Role"), [DataRequired()], enum=Role, default="staff")
    password = PasswordField(_l("Initial password"), [DataRequired(), Length(max=256)])
    person_id = IdSelectField(_l("Linked person (id)"), [Optional()])


class UserEditForm(FlaskForm):
    role = EnumSelectField(_l("Role"), [DataRequired()], enum=Role)
    active = BoolField(_l("Active"))
    person_id = IdSelectField(_l("Linked person (id)"), [Optional()])


class PasswordResetForm(FlaskForm):
    password = PasswordField(_l("New password"), [DataRequired(), Length(max=256)])


class TokenRequestForm(FlaskForm):
    username = LoginUsernameField(_l("User name"))
    password = PasswordField(_l("Password"), [DataRequired(), Length(max=256)])
    totp = TextField(_l("Authenticator code"), [Optional()], max_length=20)
