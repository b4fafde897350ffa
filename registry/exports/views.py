"""Registers page: download any register or the inspection pack, follow large exports as jobs,
and import spreadsheets (upload → preview → confirm)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from registry.core.auth import roles_required
from registry.core.errors import DomainError, NotFound, ValidationFailed
from registry.core.settings import get_settings
from registry.extensions import db
from registry.exports import imports, jobs
from registry.exports import registers as regs
from registry.exports.columns import EN, ZH

bp = Blueprint("exports", __name__, url_prefix="/registers")

EXPORT_ROLES = ("officer", "inspector")  # + admin
IMPORT_ROLES = ("officer",)  # + admin


def ui_lang() -> str:
    return ZH if str(get_locale() or "zh_CN").startswith("zh") else EN


def register_or_404(name: str) -> regs.Register:
    register = regs.get(name)
    if register is None or not current_user.has_role(*register.roles):
        raise NotFound()
    return register


def importable_or_404(name: str) -> regs.Register:
    register = register_or_404(name)
    if register.importer is None:
        raise NotFound()
    return register


def unit_tz():
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(get_settings().get("timezone") or "UTC")
    except Exception:
        return ZoneInfo("UTC")


class FileStream:
    """Chunks of an open file for a streamed response; the file is closed when the last chunk has
    been read or when the server closes the response (client gone, HEAD request), whichever comes first."""

    def __init__(self, fh, chunk: int = 256 * 1024):
        self.fh = fh
        self.chunk = chunk

    def __iter__(self):
        try:
            while True:
                block = self.fh.read(self.chunk)
                if not block:
                    break
                yield block
        finally:
            self.fh.close()

    def close(self) -> None:
        self.fh.close()


def stream_file(path: Path, filename: str, *, unlink: bool = False, sha256: str | None = None,
                rows: int | None = None) -> Response:
    """Stream an .xlsx file in chunks as an attachment (constant memory). With `unlink`, the
    file is removed at once and disappears when the stream is closed."""
    fh = open(path, "rb")
    size = os.fstat(fh.fileno()).st_size
    if unlink:
        os.unlink(path)
    resp = Response(FileStream(fh), mimetype=jobs.XLSX_MIMETYPE, direct_passthrough=True)
    resp.headers.set("Content-Disposition", "attachment", filename=filename)
    resp.headers["Content-Length"] = str(size)
    if sha256:
        resp.headers["X-Export-SHA256"] = sha256
    if rows is not None:
        resp.headers["X-Export-Rows"] = str(rows)
    return resp


def send_result(result: jobs.ExportResult) -> Response:
    return stream_file(result.path, result.filename, unlink=True, sha256=result.sha256, rows=result.rows)


def export_or_job(target: str, lang: str, filters: regs.Filters):
    """Small exports are written and streamed at once; large ones become a background job.

    Returns (response, job_id): exactly one of them is set.
    """
    req = jobs.ExportRequest.for_user(current_user, target, lang, filters)
    total = jobs.total_rows(db.session, req, unit_tz())
    if total > int(jobs.setting("EXPORT_JOB_THRESHOLD")):
        return None, jobs.start_job(req, rows_total=total)
    result = jobs.export_now(db.session, req, jobs.export_dir() / "tmp", actor=current_user)
    return send_result(result), None


def _args(source=None) -> dict:
    source = source if source is not None else request.args
    return {k: source.get(k) for k in ("lang", "from", "to") if source.get(k)}


@bp.get("/")
@roles_required(*EXPORT_ROLES)
def index():
    try:
        lang, filters = jobs.parse_args(request.args)
    except ValidationFailed as exc:
        flash(" ".join(str(m) for ms in exc.details.values() for m in ms), "error")
        lang, filters = ZH, regs.Filters()
    tz = unit_tz()
    rows = [(r, regs.count(db.session, r, filters, tz)) for r in regs.visible_to(current_user)]
    pending = [r for r in regs.REGISTERS.values() if not r.available()]
    return render_template("exports/index.html", rows=rows, lang=lang, filters=filters, args=_args(),
                           ui=ui_lang(), jobs=jobs.user_jobs(current_user), pending=pending,
                           may_import=current_user.has_role(*IMPORT_ROLES), importable=regs.IMPORTABLE,
                           threshold=int(jobs.setting("EXPORT_JOB_THRESHOLD")))


@bp.get("/inspection-pack.xlsx")
@roles_required(*EXPORT_ROLES)
def pack():
    lang, filters = jobs.parse_args(request.args)
    resp, job_id = export_or_job(regs.PACK, lang, filters)
    return resp or redirect(url_for("exports.job", job_id=job_id))


@bp.get("/<register>.xlsx")
@roles_required(*EXPORT_ROLES)
def download(register):
    register_or_404(register)
    lang, filters = jobs.parse_args(request.args)
    resp, job_id = export_or_job(register, lang, filters)
    return resp or redirect(url_for("exports.job", job_id=job_id))


# ---------------------------------------------------------------- jobs

def job_or_404(job_id: str) -> dict:
    status = jobs.read_status(job_id)
    if status is None or not jobs.may_read_job(current_user, status):
        raise NotFound()
    return status


def job_title(status: dict) -> str:
    target = status.get("request", {}).get("target")
    if target == regs.PACK:
        return _("Inspection pack")
    register = regs.REGISTERS.get(target)
    return (register.zh if ui_lang() == ZH else register.en) if register else target


@bp.get("/jobs/<job_id>")
@roles_required(*EXPORT_ROLES)
def job(job_id):
    status = job_or_404(job_id)
    return render_template("exports/job.html", status=status, title=job_title(status), job_id=job_id)


@bp.get("/jobs/<job_id>/status")
@roles_required(*EXPORT_ROLES)
def job_status(job_id):
    status = job_or_404(job_id)
    html = render_template("exports/_job_status.html", status=status, job_id=job_id)
    # 286 tells htmx to stop polling once the job has finished.
    return html, 286 if status.get("state") in ("done", "failed") else 200


@bp.get("/jobs/<job_id>/file")
@roles_required(*EXPORT_ROLES)
def job_download(job_id):
    status = job_or_404(job_id)
    path = jobs.job_file(job_id, status)
    if path is None:
        raise NotFound()
    return stream_file(path, path.name, sha256=status.get("sha256"), rows=status.get("rows_done"))


# ---------------------------------------------------------------- imports

@bp.get("/import/<register>/template.xlsx")
@roles_required(*IMPORT_ROLES)
def template(register):
    reg = importable_or_404(register)
    lang, _filters = jobs.parse_args(request.args)
    return send_template(reg, lang)


def send_template(reg: regs.Register, lang: str) -> Response:
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    imports.write_template(reg, lang, Path(tmp), unit=get_settings().get("unit_name") or "")
    return stream_file(Path(tmp), f"{reg.name}-template-{'zh' if lang == ZH else 'en'}.xlsx", unlink=True)


@bp.get("/import/<register>")
@roles_required(*IMPORT_ROLES)
def import_form(register):
    reg = importable_or_404(register)
    return render_template("exports/import.html", register=reg, ui=ui_lang(), limits=imports.limits(register=reg))


@bp.post("/import/<register>")
@roles_required(*IMPORT_ROLES)
def import_upload(register):
    reg = importable_or_404(register)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose an Excel file (.xlsx) to upload."), "error")
        return render_template("exports/import.html", register=reg, ui=ui_lang(),
                               limits=imports.limits(register=reg)), 422
    imports.purge_pending()
    token = secrets.token_urlsafe(18)
    folder = imports.pending_dir(token)
    try:
        path, size = imports.save_upload(upload.stream, folder, max_bytes=imports.limits().max_bytes)
        (folder / "meta.json").write_text(json.dumps({
            "user_id": current_user.id, "register": reg.name, "filename": (upload.filename or "")[:200],
            "size": size, "uploaded": time.time()}))
        result = imports.import_file(db.session, reg, path, actor=current_user, dry_run=True, size=size,
                                     filename=upload.filename or "")
    except DomainError as exc:
        db.session.rollback()
        shutil.rmtree(folder, ignore_errors=True)
        flash(str(exc.message), "error")
        return render_template("exports/import.html", register=reg, ui=ui_lang(),
                               limits=imports.limits(register=reg)), exc.status
    if not result.ok:
        shutil.rmtree(folder, ignore_errors=True)
    return render_template("exports/preview.html", register=reg, ui=ui_lang(), result=result, token=token,
                           filename=upload.filename), 200 if result.ok else 422


@bp.post("/import/<register>/<token>")
@roles_required(*IMPORT_ROLES)
def import_confirm(register, token):
    reg = importable_or_404(register)
    folder = imports.pending_dir(token)
    if folder is None or not (folder / "meta.json").is_file():
        raise NotFound()
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("user_id") != current_user.id or meta.get("register") != reg.name:
        abort(404)
    try:
        result = imports.import_file(db.session, reg, folder / "upload.xlsx", actor=current_user, dry_run=False,
                                     size=meta.get("size"), filename=meta.get("filename") or "")
    except DomainError as exc:
        db.session.rollback()
        shutil.rmtree(folder, ignore_errors=True)
        flash(str(exc.message), "error")
        return redirect(url_for("exports.import_form", register=reg.name))
    if not result.ok:
        db.session.rollback()
        return render_template("exports/preview.html", register=reg, ui=ui_lang(), result=result, token=None,
                               filename=meta.get("filename")), 422
    db.session.commit()
    shutil.rmtree(folder, ignore_errors=True)
    flash(_("%(n)d records created.", n=result.created), "success")
    return redirect(url_for("exports.index"))
