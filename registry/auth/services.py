"""Account commands: users, sign-in with throttling, sessions, API tokens, TOTP.

Services flush and never commit; the entry point commits. `actor` and `now` are passed in.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import defer, lazyload

from registry.auth.models import ApiToken, LoginThrottle, Role, SetupToken, User, UserSession, token_digest
from registry.auth.passwords import check_password, hash_password, password_problems
from registry.core import audit
from registry.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from registry.core.models import utcnow
from registry.core.security_events import record_security_event

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")


class SignInFailed(DomainError):
    code = "unauthenticated"
    status = 401
    message = _l("Wrong user name or password.")


class Throttled(DomainError):
    code = "rate_limited"
    status = 429
    message = _l("Too many failed sign-in attempts. Try again later or ask a security officer to unlock the account.")


class TotpRequired(DomainError):
    code = "totp_required"
    status = 401
    message = _l("Enter the code from your authenticator app.")


# ---------------------------------------------------------------- users

def _check_username(session, username: str) -> str:
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        raise ValidationFailed(details={"username": [_l("2–64 letters, digits, dot, dash or underscore.")]})
    exists = session.scalar(sa.select(User.id).where(sa.func.lower(User.username) == username.lower()))
    if exists:
        raise ValidationFailed(details={"username": [_l("This user name is taken.")]})
    return username


def _check_password(password: str, username: str, field: str = "password") -> None:
    problems = password_problems(password or "", username)
    if problems:
        raise ValidationFailed(details={field: problems})


def create_user(session, *, username: str, role: str, password: str, actor, person_id: int | None = None,
                locale: str | None = None) -> User:
    """Create an account. Only an administrator may create another administrator."""
    username = _check_username(session, username)
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed(details={"role": [_l("Unknown role.")]}) from None
    if role == Role.ADMIN and actor is not None and getattr(actor, "role", None) != Role.ADMIN:
        raise Forbidden()
    _check_password(password, username)
    user = User(username=username, role=role, password_hash=hash_password(password), person_id=person_id,
                locale=locale, active=True, session_version=1, password_changed_at=utcnow())
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.create", entity=user,
                 data={"after": {"username": username, "role": role.value, "person_id": person_id}})
    return user


def _bump(user: User) -> None:
    """End every session of this user (SPEC §5a): the version stored with each session no longer matches."""
    user.session_version = (user.session_version or 1) + 1


def change_password(session, user: User, *, current: str, new: str, actor) -> None:
    """A user changes their own password; the current one is required. Ends all their sessions."""
    if not check_password(user.password_hash, current or ""):
        raise ValidationFailed(details={"current_password": [_l("The current password is wrong.")]})
    _check_password(new, user.username, "new_password")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    _bump(user)
    audit.record(session, actor=actor, action="user.password_change", entity=user)


def reset_password(session, user: User, *, new: str, actor) -> None:
    """An administrator sets a new password for someone. Ends all their sessions."""
    _check_password(new, user.username, "password")
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    _bump(user)
    audit.record(session, actor=actor, action="user.password_reset", entity=user)


def _last_active_admin(session, user: User) -> bool:
    if user.role != Role.ADMIN:
        return False
    others = session.scalar(sa.select(sa.func.count(User.id)).where(
        User.role == Role.ADMIN, User.active.is_(True), User.id != user.id))
    return not others


def update_user(session, user: User, *, actor, role: str | None = None, active: bool | None = None,
                person_id: int | None | object = ..., locale: str | None | object = ...) -> dict:
    """Change role, active flag, linked person or locale. Role and active changes end sessions."""
    before, after = {}, {}
    if role is not None:
        try:
            new_role = Role(role)
        except ValueError:
            raise ValidationFailed(details={"role": [_l("Unknown role.")]}) from None
        if new_role != user.role:
            if actor is not None and getattr(actor, "id", None) == user.id:
                raise ValidationFailed(details={"role": [_l("You cannot change your own role.")]})
            if user.role == Role.ADMIN and _last_active_admin(session, user):
                raise ValidationFailed(details={"role": [_l("The last active administrator must stay an administrator.")]})
            before["role"], after["role"] = user.role.value, new_role.value
            user.role = new_role
            _bump(user)
    if active is not None and bool(active) != user.active:
        if not active and actor is not None and getattr(actor, "id", None) == user.id:
            raise ValidationFailed(details={"active": [_l("You cannot disable your own account.")]})
        if not active and _last_active_admin(session, user):
            raise ValidationFailed(details={"active": [_l("The last active administrator cannot be disabled.")]})
        before["active"], after["active"] = user.active, bool(active)
        user.active = bool(active)
        _bump(user)
    if person_id is not ... and person_id != user.person_id:
        before["person_id"], after["person_id"] = user.person_id, person_id
        user.person_id = person_id
    if locale is not ... and locale != user.locale:
        before["locale"], after["locale"] = user.locale, locale
        user.locale = locale
    if after:
        session.flush()
        audit.record(session, actor=actor, action="user.update", entity=user, data={"before": before, "after": after})
    return after


# ---------------------------------------------------------------- throttling

def _throttle_rows(session, username: str, ip: str | None):
    keys = [("account", (username or "").strip().lower()[:128])]
    if ip:
        keys.append(("ip", ip[:128]))
    return keys


def _get_or_create_throttle(session, scope: str, key: str) -> LoginThrottle:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(LoginThrottle).values(scope=scope, key=key, failures=0).on_conflict_do_nothing())
    stmt = sa.select(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key)
    if dialect == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalar(stmt.execution_options(populate_existing=True))


LOGIN_LOCK_NAMESPACE = 7302  # pg_advisory_xact_lock(namespace, key); the audit chain uses 7301


def serialise_attempts(session, username: str, ip: str | None) -> None:
    """Queue concurrent sign-ins for the same account or address, so that checking the throttle,
    checking the password and counting the failure are one step across every worker.

    Without this, each of N workers can pass check_throttle() before any of them has counted
    its failure, and an attacker gets N-1 extra guesses per lock period. SQLite needs nothing
    more: the request already holds the database write lock (BEGIN IMMEDIATE). PostgreSQL takes
    a transaction-scoped advisory lock per key, always account before address (no deadlock).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    for scope, key in _throttle_rows(session, username, ip):
        digest = hashlib.sha256(f"{scope}:{key}".encode()).digest()
        session.execute(sa.text("SELECT pg_advisory_xact_lock(CAST(:ns AS integer), CAST(:key AS integer))"),
                        {"ns": LOGIN_LOCK_NAMESPACE, "key": int.from_bytes(digest[:4], "big", signed=True)})


def check_throttle(session, username: str, ip: str | None, now: datetime) -> None:
    """Refuse (429) while the account or the address is locked."""
    for scope, key in _throttle_rows(session, username, ip):
        row = session.scalar(sa.select(LoginThrottle).where(LoginThrottle.scope == scope, LoginThrottle.key == key))
        if row and row.locked_until and row.locked_until > now:
            retry = int((row.locked_until - now).total_seconds()) + 1
            raise Throttled(details={"retry_after": retry})


def register_failure(session, username: str, ip: str | None, now: datetime, config) -> None:
    window = timedelta(minutes=config["LOGIN_FAILURE_WINDOW_MINUTES"])
    limits = {"account": config["LOGIN_MAX_FAILURES_PER_ACCOUNT"], "ip": config["LOGIN_MAX_FAILURES_PER_IP"]}
    for scope, key in _throttle_rows(session, username, ip):
        row = _get_or_create_throttle(session, scope, key)
        if row.first_failure_at is None or now - row.first_failure_at > window:
            if not (row.locked_until and row.locked_until > now):
                row.failures = 0
                row.first_failure_at = now
        row.failures += 1
        row.last_failure_at = now
        over = row.failures - limits[scope]
        if over >= 0:
            seconds = min(config["LOGIN_LOCK_BASE_SECONDS"] * (2 ** over), config["LOGIN_LOCK_MAX_SECONDS"])
            row.locked_until = now + timedelta(seconds=seconds)
            if over == 0:
                record_security_event(session, kind="login_locked", actor=None, reason="rate_limited",
                                      subject_type="login", subject_label=f"{scope}:{key}",
                                      details={"failures": row.failures, "seconds": seconds})
    session.flush()


def clear_account_throttle(session, username: str, *, actor) -> bool:
    """A security officer unlocks an account locked by failed sign-ins."""
    row = session.scalar(sa.select(LoginThrottle).where(
        LoginThrottle.scope == "account", LoginThrottle.key == username.strip().lower()))
    if not row or not row.failures:
        return False
    row.failures = 0
    row.locked_until = None
    row.first_failure_at = None
    audit.record(session, actor=actor, action="user.unlock", entity_type="login_throttles", entity_id=row.id,
                 data={"username": username})
    return True


def authenticate(session, *, username: str, password: str, ip: str | None, config, now: datetime | None = None,
                 totp_code: str | None = None) -> User:
    """Check credentials with throttling. Unknown user and wrong password answer alike.

    On failure the throttle counters and a `login_failed` event are flushed before the
    exception; the caller must commit them (they are not part of a refused change).
    """
    now = now or utcnow()
    serialise_attempts(session, username, ip)
    check_throttle(session, username, ip, now)
    user = session.scalar(sa.select(User).where(sa.func.lower(User.username) == (username or "").strip().lower()))
    ok = check_password(user.password_hash if user else None, password or "")
    if not ok or not user.active:
        register_failure(session, username, ip, now, config)
        record_security_event(session, kind="login_failed", actor=None, reason="unauthenticated",
                              subject_type="login", subject_label=(username or "")[:64])
        raise SignInFailed()
    if user.totp_enabled:
        if not totp_code:
            raise TotpRequired()
        if not verify_totp(session, user, totp_code, now=now):
            register_failure(session, username, ip, now, config)
            record_security_event(session, kind="login_failed", actor=None, reason="totp_invalid",
                                  subject_type="login", subject_label=user.username)
            raise SignInFailed()
    row = session.scalar(sa.select(LoginThrottle).where(
        LoginThrottle.scope == "account", LoginThrottle.key == user.username.lower()))
    if row and row.failures:
        row.failures = 0
        row.locked_until = None
        row.first_failure_at = None
    user.last_login_at = now
    return user


# ---------------------------------------------------------------- sessions

def start_session(session, user: User, *, ip: str | None, user_agent: str | None) -> str:
    token = UserSession.new_token()
    session.add(UserSession(token_hash=token_digest(token), user_id=user.id, user_version=user.session_version,
                            ip=(ip or "")[:64], user_agent=(user_agent or "")[:200]))
    audit.record(session, actor=user, action="user.login", entity=user)
    session.flush()
    return token


# The credentials are not read on an ordinary request: they load on first use (sign-in, password and
# two-factor pages), and stay out of memory otherwise.
def _secrets_deferred():
    return defer(User.password_hash), defer(User.totp_secret), defer(User.recovery_codes)


# The per-request checks (issue 8): one statement each, built once (on first use: the mappers must be
# complete), by the token's unique digest; every condition that ends a session (revoked, user disabled,
# session version bumped by a password, role or TOTP change, absolute lifetime) is in its WHERE clause,
# so a dead session loads nothing. The user's person is not joined in (only staff rules read it: it
# then loads on first use, by primary key).
@functools.cache
def _live_session_user():
    return (sa.select(User).join(UserSession, UserSession.user_id == User.id)
            .where(UserSession.token_hash == sa.bindparam("digest"), UserSession.revoked_at.is_(None),
                   UserSession.user_version == User.session_version, User.active.is_(True),
                   UserSession.created_at >= sa.bindparam("not_before", type_=UserSession.created_at.type))
            .options(lazyload(User.person), *_secrets_deferred()))


@functools.cache
def _live_token_user():
    return (sa.select(User).join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == sa.bindparam("digest"), ApiToken.revoked_at.is_(None),
                   sa.or_(ApiToken.expires_at.is_(None),
                          ApiToken.expires_at > sa.bindparam("now", type_=ApiToken.expires_at.type)),
                   User.active.is_(True))
            .options(lazyload(User.person), *_secrets_deferred()))


def load_session(session, token: str, *, absolute_minutes: int, now: datetime | None = None) -> User | None:
    """The user of a live session token, or None when revoked, expired, disabled or outdated."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    user = session.scalar(_live_session_user(), {"digest": token_digest(token),
                                               "not_before": now - timedelta(minutes=absolute_minutes)})
    if user is None:
        return None
    user._session_token = token
    return user


def end_session(session, token: str, *, actor) -> None:
    row = session.scalar(sa.select(UserSession).where(UserSession.token_hash == token_digest(token)))
    if row and row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor=actor, action="user.logout", entity_type="users", entity_id=row.user_id)


# ---------------------------------------------------------------- API tokens

def create_token(session, user: User, *, actor, name: str = "", days: int | None = None) -> str:
    """Create a bearer token; only its SHA-256 digest is stored. Returns the token (shown once)."""
    if not user.active:
        raise ValidationFailed(details={"username": [_l("The account is disabled.")]})
    raw = ApiToken.new_token()
    expires = utcnow() + timedelta(days=days) if days else None
    tok = ApiToken(user_id=user.id, name=(name or "")[:80], token_hash=token_digest(raw), prefix=raw[:8],
                   expires_at=expires)
    session.add(tok)
    session.flush()
    audit.record(session, actor=actor, action="token.create", entity=tok, data={"user": user.username, "name": name})
    return raw


def resolve_token(session, raw: str, now: datetime | None = None) -> User | None:
    """The user of a live bearer token (not revoked, not expired, account active), or None."""
    if not raw or len(raw) > 100:
        return None
    return session.scalar(_live_token_user(), {"digest": token_digest(raw), "now": now or utcnow()})


def revoke_token(session, tok: ApiToken, *, actor) -> None:
    if tok.revoked_at is None:
        tok.revoked_at = utcnow()
        audit.record(session, actor=actor, action="token.revoke", entity=tok)


# ---------------------------------------------------------------- TOTP

def begin_totp(user: User) -> str:
    """A fresh secret for enrolment (not stored until confirmed)."""
    return pyotp.random_base32()


def confirm_totp(session, user: User, *, secret: str, code: str, actor) -> list[str]:
    """Store the secret once the user proves it with a valid code; returns one-time recovery codes."""
    totp = pyotp.TOTP(secret)
    if not code or not totp.verify(code.strip(), valid_window=1):
        raise ValidationFailed(details={"code": [_l("The code is not valid. Check the time on your device.")]})
    user.totp_secret = secret
    user.totp_enabled = True
    user.totp_last_step = None
    codes = [secrets.token_hex(5) for _ in range(8)]
    user.recovery_codes = "\n".join(hash_password(c) for c in codes)
    audit.record(session, actor=actor, action="user.totp_enable", entity=user)
    return codes


def verify_totp(session, user: User, code: str, now: datetime | None = None) -> bool:
    """Check a TOTP code (±1 step) or a recovery code; a code is never accepted twice."""
    code = (code or "").strip().replace(" ", "")
    now = now or utcnow()
    if code.isdigit() and len(code) == 6 and user.totp_secret:
        totp = pyotp.TOTP(user.totp_secret)
        step = int(now.timestamp()) // 30
        for offset in (-1, 0, 1):
            candidate = step + offset
            if totp.at(candidate * 30) == code and (user.totp_last_step or 0) < candidate:
                user.totp_last_step = candidate
                return True
        return False
    hashes = (user.recovery_codes or "").split("\n")
    for i, h in enumerate(hashes):
        if h and check_password(h, code.lower()):
            hashes[i] = ""
            user.recovery_codes = "\n".join(hashes)
            audit.record(session, actor=user, action="user.recovery_code_used", entity=user)
            return True
    return False


def reset_totp(session, user: User, *, actor) -> None:
    user.totp_secret = None
    user.totp_enabled = False
    user.recovery_codes = None
    user.totp_last_step = None
    _bump(user)
    audit.record(session, actor=actor, action="user.totp_reset", entity=user)


# ---------------------------------------------------------------- first run

def users_exist(session) -> bool:
    return session.scalar(sa.select(sa.func.count(User.id))) > 0


def new_setup_token(session) -> str:
    """Create the one-time setup token (printed on the console) while no user exists."""
    raw = secrets.token_urlsafe(24)
    session.add(SetupToken(token_hash=token_digest(raw)))
    session.flush()
    return raw


def consume_setup_token(session, raw: str) -> bool:
    if not raw or len(raw) > 100 or users_exist(session):
        return False
    row = session.scalar(sa.select(SetupToken).where(SetupToken.token_hash == token_digest(raw),
                                                     SetupToken.used_at.is_(None)))
    if row is None:
        return False
    row.used_at = utcnow()
    return True


def get_user(session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


__all__ = ["Conflict"]
