"""Excel endpoints of the JSON API (SPEC §6): register exports, the inspection pack, export jobs,
imports and import templates."""

from __future__ import annotations

from pathlib import Path

from flask import request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from registry.core.api import api_blueprint, doc, register_schema
from registry.core.auth import roles_required
from registry.core.errors import NotFound, ValidationFailed
from registry.extensions import db
from registry.exports import imports, jobs
from registry.exports import registers as regs
from registry.exports.views import (EXPORT_ROLES, IMPORT_ROLES, export_or_job, importable_or_404, job_or_404,
                                    register_or_404, send_template, stream_file)

bp = api_blueprint("exports_api", __name__)

XLSX = jobs.XLSX_MIMETYPE
EXPORT_QUERY = [("lang", "string", "zh_CN (default) or en"),
                ("from", "string", "start of the period, ISO date (unit time zone)"),
                ("to", "string", "end of the period, ISO date, inclusive")]

register_schema("ExportJob", {"type": "object", "required": ["job", "state"], "properties": {
    "job": {"type": "string", "description": "URL to poll; answers the file when the job is done"},
    "state": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
    "rows_done": {"type": "integer"}, "rows_total": {"type": ["integer", "null"]},
    "sha256": {"type": ["string", "null"]}, "error": {"type": ["string", "null"]}}})
register_schema("ImportResult", {"type": "object", "required": ["created", "errors"], "properties": {
    "created": {"type": "integer"}, "dry_run": {"type": "boolean"}, "rows": {"type": "integer"},
    "errors": {"type": "array", "items": {"type": "object", "required": ["row", "field", "message"], "properties": {
        "row": {"type": "integer"}, "field": {"type": "string"}, "column": {"type": "string"},
        "message": {"type": "string"}}}}}})

IMPORT_BODY = {"type": "object", "x-multipart": True, "required": ["file"], "properties": {
    "file": {"type": "string", "format": "binary", "description": "the .xlsx file (export layout or template)"},
    "dry_run": {"type": "boolean", "description": "validate only; nothing is changed"}}}


def _job_json(job_id: str, status: dict) -> dict:
    return {"job": url_for("exports_api.job", job_id=job_id), "state": status.get("state"),
            "rows_done": status.get("rows_done", 0), "rows_total": status.get("rows_total"),
            "sha256": status.get("sha256"), "error": status.get("error")}


def _export(target: str):
    lang, filters = jobs.parse_args(request.args)
    resp, job_id = export_or_job(target, lang, filters)
    if resp is not None:
        return resp
    body = _job_json(job_id, jobs.read_status(job_id) or {"state": "queued"})
    return body, 202, {"Location": body["job"]}


@bp.get("/exports/inspection-pack.xlsx")
@roles_required(*EXPORT_ROLES)
@doc("The inspection pack: a cover sheet (unit, period, counts, audit head) and one sheet per register the "
     "role may see. Large packs answer 202 with a job URL.", tags=["exports"], content_type=XLSX,
     query=EXPORT_QUERY, errors=(422,))
def pack():
    return _export(regs.PACK)


@bp.get("/exports/<register>.xlsx")
@roles_required(*EXPORT_ROLES)
@doc("Export a register as a printable, formula-safe Excel workbook. Registers longer than "
     "EXPORT_JOB_THRESHOLD rows answer 202 with a job URL.", tags=["exports"], content_type=XLSX,
     query=EXPORT_QUERY, errors=(422,))
def export_register(register):
    register_or_404(register)
    return _export(register)


@bp.get("/exports/jobs/<job_id>")
@roles_required(*EXPORT_ROLES)
@doc("An export job: 202 with its status while it runs, then the file (200); 409 if it failed.",
     tags=["exports"], content_type=XLSX, errors=(409,))
def job(job_id):
    status = job_or_404(job_id)
    state = status.get("state")
    if state == "done":
        path = jobs.job_file(job_id, status)
        if path is None:
            raise NotFound()
        return stream_file(path, path.name, sha256=status.get("sha256"), rows=status.get("rows_done"))
    if state == "failed":
        return {"error": {"code": "export_failed", "message": _("The export failed; start it again."),
                          "details": {"reason": status.get("error")}}}, 409
    return _job_json(job_id, status), 202


@bp.get("/imports/<register>/template.xlsx")
@roles_required(*IMPORT_ROLES)
@doc("An empty sheet with the import's header row (lang=zh_CN or en; either language is accepted on import)",
     tags=["imports"], content_type=XLSX, query=[("lang", "string", "zh_CN (default) or en")], errors=(422,))
def template(register):
    reg = importable_or_404(register)
    lang, _filters = jobs.parse_args(request.args)
    return send_template(reg, lang)


@bp.post("/imports/<register>")
@roles_required(*IMPORT_ROLES)
@doc("Import new records from an .xlsx file (export layout or template); all or nothing. Errors by row and "
     "column answer 422 with the same body.", tags=["imports"], body=IMPORT_BODY, response="ImportResult",
     status=201, errors=(404, 413, 422))
def import_register(register):
    import secrets
    import shutil

    reg = importable_or_404(register)
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(details={"file": [_("Send the workbook as the multipart field “file”.")]})
    dry_run = (request.form.get("dry_run") or "").strip().lower() in ("1", "true", "yes", "y", "on")
    folder = imports.imports_dir() / secrets.token_urlsafe(18)
    try:
        path, size = imports.save_upload(upload.stream, folder, max_bytes=imports.limits().max_bytes)
        result = imports.import_file(db.session, reg, Path(path), actor=current_user, dry_run=dry_run, size=size,
                                     filename=upload.filename or "")
        if result.ok and not dry_run:
            db.session.commit()
        else:
            db.session.rollback()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    body = result.as_json()
    if not result.ok:
        body["error"] = {"code": "validation_error", "message": _("Some rows are not valid; nothing was imported."),
                         "details": {"rows": sorted({e["row"] for e in result.errors})}}
        return body, 422
    return body, 200 if dry_run else 201
