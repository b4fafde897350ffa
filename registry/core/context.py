"""Per-request facts that services may record without touching Flask's request object."""

from __future__ import annotations

import contextvars

_client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("client_ip", default=None)
_via: contextvars.ContextVar[str] = contextvars.ContextVar("via", default="cli")


def set_request_facts(ip: str | None, via: str) -> None:
    _client_ip.set(ip)
    _via.set(via)


def client_ip() -> str | None:
    return _client_ip.get()


def channel() -> str:
    """'web', 'api' or 'cli': where the action came from (recorded in the audit trail)."""
    return _via.get()
