"""JSON API plumbing (SPEC §6): body parsing, validation through the shared forms, pagination,
and the OpenAPI description that every API view declares with @doc."""

from __future__ import annotations

from flask import Blueprint, request
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from registry.core.errors import DomainError, ValidationFailed
from registry.core.urls import MAX_ID
from registry.extensions import db

MAX_PER_PAGE = 200


def api_blueprint(name: str, import_name: str) -> Blueprint:
    return Blueprint(name, import_name, url_prefix="/api/v1")


def json_body(allow_empty: bool = False) -> dict:
    """The request's JSON object; 400 when the body is not a JSON object."""
    if not request.data and allow_empty:
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise DomainError(_("The body must be a JSON object."), code="bad_request", status=400)
    return data


def to_formdata(data: dict) -> MultiDict:
    """Turn a JSON object into form data for WTForms: lists become repeated keys, booleans 'y'/''."""
    md = MultiDict()
    for key, value in data.items():
        if isinstance(value, list):
            for item in value:
                md.add(key, "" if item is None else str(item))
        elif isinstance(value, bool):
            md.add(key, "y" if value else "")
        elif value is None:
            md.add(key, "")
        elif isinstance(value, dict):
            md.add(key, __import__("json").dumps(value))
        else:
            md.add(key, str(value))
    return md


def validate_with(form_cls, data: dict, *, base: dict | None = None, unknown: str = "reject", **form_kwargs):
    """Validate `data` (merged over `base` for PATCH) with a WTForms form; 422 with details on error.

    Unknown keys are refused (no mass assignment); read-only keys in `base` are ignored.
    """
    form_fields = set(form_cls(formdata=None, meta={"csrf": False}, **form_kwargs)._fields)
    extra = sorted(set(data) - form_fields)
    if extra and unknown == "reject":
        raise ValidationFailed(details={k: [_("Unknown or read-only field.")] for k in extra})
    merged = dict(base or {})
    merged.update({k: v for k, v in data.items() if k in form_fields})
    form = form_cls(formdata=to_formdata(merged), meta={"csrf": False}, **form_kwargs)
    if not form.validate():
        raise ValidationFailed(details={k: [str(m) for m in v] for k, v in form.errors.items()})
    return form


def int_arg(name: str, default: int | None = None, *, minimum: int = 1, maximum: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(details={name: [_("Must be a whole number.")]}) from None
    if value < minimum or (maximum is not None and value > maximum) or abs(value) > MAX_ID:  # 32-bit columns
        raise ValidationFailed(details={name: [_("Out of range.")]})
    return value


def bool_arg(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return None
    if raw.lower() in ("1", "true", "yes", "y"):
        return True
    if raw.lower() in ("0", "false", "no", "n"):
        return False
    raise ValidationFailed(details={name: [_("Must be true or false.")]})


def page_args() -> tuple[int, int]:
    page = int_arg("page", 1, minimum=1, maximum=10**6)
    per_page = int_arg("per_page", 50, minimum=1, maximum=MAX_PER_PAGE)
    return page, per_page


def paginate(stmt, serialize) -> dict:
    """{"items": [...], "total": N, "page": P, "per_page": K} for a SELECT of model rows."""
    import sqlalchemy as sa

    page, per_page = page_args()
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    rows = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).unique().all()
    return {"items": [serialize(r) for r in rows], "total": total, "page": page, "per_page": per_page}


# ---------------------------------------------------------------- OpenAPI

def doc(summary: str, *, tags: list[str] | None = None, body=None, response: str | None = None,
        status: int = 200, query: list[tuple[str, str, str]] | None = None, list_of: bool = False,
        auth: bool = True, content_type: str = "application/json", errors: tuple[int, ...] = ()):
    """Describe an API view for the OpenAPI document.

    body: a WTForms form class (its fields become the request schema) or a JSON-schema dict.
    response: the name of a component schema; list_of wraps it in the paginated list shape.
    query: (name, type, description) triples.
    """

    def decorator(view):
        view.openapi = {
            "summary": summary, "tags": tags or [], "body": body, "response": response, "status": status,
            "query": query or [], "list_of": list_of, "auth": auth, "content_type": content_type,
            "errors": errors,
        }
        return view

    return decorator


SCHEMAS: dict[str, dict] = {}


def register_schema(name: str, schema: dict) -> None:
    SCHEMAS[name] = schema
