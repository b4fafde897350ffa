"""GET /api/v1/dashboard: the figures of the dashboard tiles for the caller's role (monitoring, kiosks).

Importing this module registers the dashboard's tile and panel providers."""

from __future__ import annotations

from flask_login import current_user

from registry.core.api import api_blueprint, doc, register_schema
from registry.core.auth import roles_required
from registry.core.dashboard import tiles_for
from registry.dashboard import providers  # noqa: F401  (registers the providers)

bp = api_blueprint("dashboard_api", __name__)

register_schema("Dashboard", {"type": "object", "properties": {"tiles": {"type": "array", "items": {
    "type": "object", "properties": {"key": {"type": "string"}, "label": {"type": "string"},
                                     "value": {"type": ["integer", "string"]}, "warn": {"type": "boolean"},
                                     "hint": {"type": "string"}}}}}})


@bp.get("/dashboard")
@roles_required()
@doc("Every dashboard tile for the caller's role (labels in the caller's language)", tags=["dashboard"],
     response="Dashboard")
def dashboard():
    return {"tiles": [{"key": getattr(t, "key", ""), "label": str(t.label), "value": t.value if isinstance(
        t.value, int) else str(t.value), "warn": bool(t.warn), "hint": str(t.hint or "")}
        for t in tiles_for(current_user)]}
