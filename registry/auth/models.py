"""Accounts, server-side session records, API tokens and sign-in throttling state."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.core.models import Base, LabelledEnum, UTCDateTime, enum_column, utcnow


class Role(LabelledEnum):
    """Roles of SPEC §1."""

    ADMIN = "admin", _l("Administrator")
    OFFICER = "officer", _l("Security officer")
    APPROVER = "approver", _l("Approver")
    STAFF = "staff", _l("Staff")
    GUARD = "guard", _l("Guard")
    INSPECTOR = "inspector", _l("Inspector")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    role: Mapped[Role] = mapped_column(enum_column(Role))
    person_id: Mapped[int | None] = mapped_column(sa.ForeignKey("persons.id"), index=True)
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    session_version: Mapped[int] = mapped_column(sa.Integer, default=1)
    totp_secret: Mapped[str | None] = mapped_column(sa.String(64))
    totp_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    recovery_codes: Mapped[str | None] = mapped_column(sa.Text)  # newline-separated scrypt hashes
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person = relationship("Person", foreign_keys=[person_id], lazy="joined")

    # Flask-Login protocol. get_id() answers the opaque session token of this request.
    _session_token = None  # not mapped: set per request by the session loader

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self._session_token

    @property
    def audit_label(self) -> str:
        return self.username

    def has_role(self, *roles: str) -> bool:
        """Admin may do everything; otherwise the user's role must be among `roles`."""
        return self.role == Role.ADMIN or self.role.value in roles

    def as_json(self) -> dict:
        return {
            "id": self.id, "username": self.username, "role": self.role.value, "person_id": self.person_id,
            "locale": self.locale, "active": self.active, "totp_enabled": self.totp_enabled,
        }


class UserSession(Base):
    """A signed-in browser session. The cookie holds only the opaque token; we keep its digest."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    user_version: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))

    user = relationship(User, lazy="joined")

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(32)


class ApiToken(Base):
    """A bearer token for the JSON API, stored as a SHA-256 digest (the token has 256 random bits)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80), default="")
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship(User, lazy="joined")

    @staticmethod
    def new_token() -> str:
        return "rgt_" + secrets.token_urlsafe(32)


class LoginThrottle(Base):
    """Failed sign-in counters per account and per client address, shared by all workers."""

    __tablename__ = "login_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(sa.String(8))  # "account" or "ip"
    key: Mapped[str] = mapped_column(sa.String(128))
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    first_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("scope", "key"),)


class SetupToken(Base):
    """The one-time token printed on the console that lets the first administrator be created."""

    __tablename__ = "setup_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
