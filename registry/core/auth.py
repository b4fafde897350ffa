"""Authorisation: role gates (decorators) and the identity of the current request.

Coarse gates are decorators (`roles_required`); object rules are predicates in each
domain's rules.py. Admin may do everything (SPEC §1).
"""

from __future__ import annotations

from functools import wraps

from flask import g, request
from flask_login import current_user

from registry.core.errors import DomainError, Forbidden

# Role groups used by several domains.
READ_REGISTERS = ("officer", "approver", "inspector")  # + admin implicitly
MANAGE_REGISTERS = ("officer",)


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status = 401


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def via_bearer() -> bool:
    return bool(g.get("auth_via_bearer"))


def roles_required(*roles: str):
    """Require a signed-in, active user whose role is among `roles` (admin always passes).

    With no roles given, any signed-in user passes. Unauthenticated: 401 (API) or a
    redirect to sign-in (pages); wrong role: 403.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                raise Unauthenticated()
            if roles and not current_user.has_role(*roles):
                raise Forbidden()
            return view(*args, **kwargs)

        wrapped.required_roles = roles or ("*",)
        return wrapped

    return decorator


def login_required(view):
    return roles_required()(view)


def public(view):
    """Mark a view as reachable without signing in (checked by the authorisation test)."""
    view.required_roles = ("public",)
    return view
