"""OpenAPI 3.1 document built from the URL map and each API view's @doc declaration."""

from __future__ import annotations

import re

from flask import current_app
from wtforms import fields as wtf

from registry.core.api import SCHEMAS

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "details"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}}}},
}

ERROR_TEXT = {400: "Bad request", 401: "Not signed in or bad token", 403: "Forbidden or refused by a rule",
              404: "Not found", 405: "Method not allowed", 409: "Conflict", 410: "Label revoked",
              413: "Too large", 422: "Validation error", 429: "Rate limited", 500: "Internal error"}


def field_schema(field) -> dict:
    if isinstance(field, (wtf.IntegerField,)):
        schema = {"type": ["integer", "null"]}
    elif isinstance(field, (wtf.DecimalField, wtf.FloatField)):
        schema = {"type": ["number", "null"]}
    elif isinstance(field, wtf.BooleanField):
        schema = {"type": "boolean"}
    elif isinstance(field, wtf.DateTimeField):
        schema = {"type": ["string", "null"], "format": "date-time"}
    elif isinstance(field, wtf.DateField):
        schema = {"type": ["string", "null"], "format": "date"}
    elif isinstance(field, wtf.SelectMultipleField):
        schema = {"type": "array", "items": {"type": "string"}}
    elif isinstance(field, wtf.SelectField):
        schema = {"type": ["string", "null"]}
        choices = [c[0] for c in (field.choices or []) if not isinstance(c[0], int) and c[0] != ""]
        if choices and not getattr(field, "coerce_int", False):
            schema["enum"] = choices + [None] if not field.flags.required else choices
    elif isinstance(field, wtf.FieldList):
        schema = {"type": "array", "items": {"type": "string"}}
    else:
        schema = {"type": ["string", "null"]}
        for v in field.validators:
            max_len = getattr(v, "max", None)
            if getattr(v, "__class__", None).__name__ == "Length" and max_len and max_len > 0:
                schema["maxLength"] = max_len
    if getattr(field, "api_schema", None):
        schema = field.api_schema
    if field.description:
        schema = {**schema, "description": str(field.description)}
    return schema


def form_schema(form_cls) -> dict:
    form = form_cls(formdata=None, meta={"csrf": False})
    props, required = {}, []
    for name, field in form._fields.items():
        if name in ("csrf_token", "submit"):
            continue
        props[name] = field_schema(field)
        if field.flags.required:
            required.append(name)
    schema = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def _path(rule: str) -> tuple[str, list[dict]]:
    params = []

    def repl(m):
        conv, name = m.group(1), m.group(2)
        params.append({"name": name, "in": "path", "required": True,
                       "schema": {"type": "integer"} if conv == "int" else {"type": "string"}})
        return "{" + name + "}"

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", repl, rule), params


def documented_rules(app):
    """The rules the document must cover: the JSON API, /healthz and label images."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") or rule.rule in ("/healthz",) or rule.rule.startswith("/labels/"):
            yield rule


def build(app=None) -> dict:
    app = app or current_app
    paths: dict = {}
    for rule in documented_rules(app):
        view = app.view_functions[rule.endpoint]
        meta = getattr(view, "openapi", None)
        if meta is None:
            continue
        path, params = _path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            op = {"summary": meta["summary"], "operationId": f"{rule.endpoint}.{method.lower()}",
                  "tags": meta["tags"], "parameters": list(params), "responses": {}}
            for name, typ, desc in meta["query"]:
                op["parameters"].append({"name": name, "in": "query", "required": False,
                                         "description": desc, "schema": {"type": typ}})
            if meta["list_of"]:
                op["parameters"] += [
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                ]
            body = meta["body"]
            if body is not None and method in ("POST", "PATCH", "PUT"):
                schema = body if isinstance(body, dict) else form_schema(body)
                if method == "PATCH" and "required" in schema:
                    schema = {k: v for k, v in schema.items() if k != "required"}
                ctype = "multipart/form-data" if schema.get("x-multipart") else "application/json"
                schema = {k: v for k, v in schema.items() if k != "x-multipart"}
                op["requestBody"] = {"required": True, "content": {ctype: {"schema": schema}}}
            ok = {"description": "OK"}
            if meta["response"]:
                ref = {"$ref": f"#/components/schemas/{meta['response']}"}
                if meta["list_of"]:
                    ref = {"type": "object", "required": ["items", "total", "page"], "properties": {
                        "items": {"type": "array", "items": ref}, "total": {"type": "integer"},
                        "page": {"type": "integer"}, "per_page": {"type": "integer"}}}
                ok["content"] = {meta["content_type"]: {"schema": ref}}
            elif meta["content_type"] != "application/json":
                ok["content"] = {meta["content_type"]: {"schema": {"type": "string", "format": "binary"}}}
            op["responses"][str(meta["status"])] = ok
            errs = set(meta["errors"]) | {400, 405, 429, 500}
            if meta["auth"]:
                errs |= {401, 403}
            if params:
                errs.add(404)
            if method in ("POST", "PATCH", "PUT"):
                errs |= {413, 422}
            for status in sorted(errs):
                op["responses"].setdefault(str(status), {
                    "description": ERROR_TEXT.get(status, "Error"),
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
            if meta["auth"]:
                op["security"] = [{"bearer": []}, {"cookie": []}]
            else:
                op["security"] = []
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Registry API", "version": "1",
                 "description": "Registers of a secrecy office. Errors always use the Error schema."},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **SCHEMAS},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "session",
                           "description": "Browser session; state-changing requests need the X-CSRFToken header."},
            },
        },
    }
