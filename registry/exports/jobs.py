"""Running an export: write the workbook in one read snapshot, hash it, record it in the audit
trail, then hand it over — at once for small registers, as a background job for large ones.

Order of operations (SPEC §5, §8): the file is written first (rows streamed from the
database into xlsxwriter's constant-memory writer), then its SHA-256 is computed, then the
export is recorded as an audit event (`export.<register>`: actor, register, filters, row
count, SHA-256) and committed, and only then is the file streamed to the client.

Background jobs (SPEC §8: a 1M-row register takes minutes, longer than a request may live)
run in a thread of the web process and keep their state under
``instance/exports/<job_id>/status.json`` next to the file. Limits, by design:

* at most `EXPORT_JOB_CONCURRENCY` (default 1) exports run at once per process; others wait
  as "queued" (each export keeps one core busy);
* a job lives in the process that started it: if that worker is restarted, the job stops
  and is reported as failed ("interrupted") once its heartbeat is older than
  `EXPORT_JOB_STALE_SECONDS`; the user starts it again;
* with several workers, the status and the file are read from the shared instance folder,
  so any worker can answer the polling and serve the file;
* finished files are deleted after `EXPORT_JOB_TTL_HOURS` (default 24).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time as _time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from registry.core import audit, context
from registry.core import db as coredb
from registry.core.models import utcnow
from registry.exports import registers as regs
from registry.exports.builders import RegisterWorkbook, SheetSpec
from registry.exports.columns import EN, ROLE, ZH, ExportContext, level_marking, max_level

log = logging.getLogger("registry.exports")

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_-]{20,40}$")
DEFAULTS = {
    "EXPORT_JOB_THRESHOLD": 20_000,
    "EXPORT_JOB_CONCURRENCY": 1,
    "EXPORT_JOB_TTL_HOURS": 24,
    "EXPORT_JOB_STALE_SECONDS": 600,
    "EXPORT_MAX_ROWS_PER_SHEET": None,
}


def setting(name: str):
    return current_app.config.get(name, DEFAULTS.get(name))


# ---------------------------------------------------------------- requests and results

@dataclass
class ExportRequest:
    """Everything an export needs to know about who asked for what (serialisable for jobs)."""

    target: str                       # a register name or regs.PACK
    lang: str = ZH
    start: date | None = None
    end: date | None = None
    user_id: int | None = None
    username: str = "system"
    role: str = "admin"               # the CLI runs with full rights (it has the database anyway)
    ip: str | None = None
    via: str = "cli"

    @property
    def filters(self) -> regs.Filters:
        return regs.Filters(self.start, self.end)

    def as_json(self) -> dict:
        data = asdict(self)
        data["start"] = self.start.isoformat() if self.start else None
        data["end"] = self.end.isoformat() if self.end else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> "ExportRequest":
        data = dict(data)
        for key in ("start", "end"):
            data[key] = date.fromisoformat(data[key]) if data.get(key) else None
        return cls(**data)

    @classmethod
    def for_user(cls, user, target: str, lang: str, filters: regs.Filters) -> "ExportRequest":
        return cls(target=target, lang=lang, start=filters.start, end=filters.end, user_id=user.id,
                   username=user.username, role=user.role.value, ip=context.client_ip(), via=context.channel())


@dataclass
class ExportResult:
    path: Path
    filename: str
    rows: int
    counts: dict = field(default_factory=dict)
    sha256: str = ""
    marking: str = ""
    checkpoint: str = ""
    audit_seq: int | None = None


class Actor:
    """The audit actor of an export run outside a request (job thread, CLI)."""

    def __init__(self, user_id, username):
        self.id = user_id
        self.username = username


def filename_for(req: ExportRequest, now: datetime) -> str:
    """A server-built, ASCII-only attachment name (never from user input)."""
    stamp = now.strftime("%Y%m%d-%H%M%S")
    return f"{req.target}-{stamp}-{'zh' if req.lang == ZH else 'en'}.xlsx"


def parse_args(args) -> tuple[str, regs.Filters]:
    """`lang` (zh_CN default, en) and the period `from`/`to` (ISO dates) of an export request."""
    from flask_babel import gettext as _

    from registry.core.errors import ValidationFailed

    raw = (args.get("lang") or ZH).replace("-", "_").lower()
    if raw in ("zh", "zh_cn", "zh_hans", "zh_hans_cn"):
        lang = ZH
    elif raw in ("en", "en_us", "en_gb"):
        lang = EN
    else:
        raise ValidationFailed(details={"lang": [_("Use zh_CN or en.")]})
    values = {}
    for name in ("from", "to"):
        text = (args.get(name) or "").strip()
        if not text:
            values[name] = None
            continue
        try:
            values[name] = date.fromisoformat(text[:10])
        except ValueError:
            raise ValidationFailed(details={name: [_("Use a date like 2026-01-31.")]}) from None
    if values["from"] and values["to"] and values["from"] > values["to"]:
        raise ValidationFailed(details={"to": [_("The end of the period is before its start.")]})
    return lang, regs.Filters(values["from"], values["to"])


# ---------------------------------------------------------------- context and title block

def visitor_mask(viewer):
    """The visits domain's masking of document numbers for `viewer` (None: ExportContext's own rule)."""
    try:
        from registry.visits.rules import mask_id_doc
    except ImportError:
        return None
    return lambda value: mask_id_doc(value, viewer)


def make_context(session, req: ExportRequest, settings: dict, now: datetime) -> ExportContext:
    from registry.auth.models import User
    from registry.people.models import Person

    def person_numbers():
        return dict(session.execute(sa.select(Person.id, Person.employee_no)).all())

    def room_codes():
        from registry.areas.models import Room

        return dict(session.execute(sa.select(Room.id, Room.code)).all())

    def asset_numbers():  # only the registers that list items by id (inventories) ask for it
        from registry.assets.models import Asset

        return dict(session.execute(sa.select(Asset.id, Asset.registry_no)).all())

    try:
        tz = ZoneInfo(settings.get("timezone") or "UTC")
    except Exception:
        tz = ZoneInfo("UTC")
    viewer = session.get(User, req.user_id) if req.user_id else None
    return ExportContext(lang=req.lang, tz=tz, home_country=settings.get("home_country") or "CN", role=req.role,
                         mask=visitor_mask(viewer), now=now, loaders={"person_no": person_numbers, "room_code": room_codes,
                                                                "asset_no": asset_numbers})


def _who(req: ExportRequest) -> str:
    role = ROLE.get(req.role)
    label = role[0 if req.lang == ZH else 1] if role else req.role
    return f"{req.username}（{label}）" if req.lang == ZH else f"{req.username} ({label})"


def title_lines(req: ExportRequest, *, unit: str, title: str, period_label: str, local_now: datetime,
                tzname: str, checkpoint: str, marking: str) -> list[str]:
    stamp = local_now.strftime("%Y-%m-%d %H:%M")
    period = req.filters.text(req.lang)
    if req.lang == ZH:
        return [unit, title, f"统计期间：{period}（按{period_label}）",
                f"导出时间：{stamp}（{tzname}）　导出人：{_who(req)}",
                f"审计检查点（序号:哈希）：{checkpoint}", f"密级标志：{marking}"]
    return [unit, title, f"Period: {period} (by {period_label})",
            f"Exported at: {stamp} ({tzname})   by: {_who(req)}",
            f"Audit checkpoint (SEQ:HASH): {checkpoint}", f"Marking: {marking}"]


def page_label(lang: str) -> str:
    return "第 &P 页 / 共 &N 页" if lang == ZH else "Page &P of &N"


def sheet_spec(register: regs.Register, req: ExportRequest, *, settings: dict, local_now: datetime, tzname: str,
               checkpoint: str, initial_level: str | None, tracker: regs.LevelTracker) -> SheetSpec:
    lang = req.lang
    marking = level_marking(initial_level, lang)
    cols = register.columns
    return SheetSpec(
        name=register.title(lang),
        headers=[c.header(lang) for c in cols],
        kinds=[c.kind for c in cols],
        widths=[c.width for c in cols],
        wraps=[c.wrap for c in cols],
        title_lines=title_lines(req, unit=settings.get("unit_name") or "", title=register.title(lang),
                                period_label=register.date_label[0 if lang == ZH else 1], local_now=local_now,
                                tzname=tzname, checkpoint=checkpoint, marking=marking),
        page_left=settings.get("unit_short_name") or settings.get("unit_name") or "",
        page_right=register.title(lang),
        page_marking=lambda: level_marking(max_level([initial_level, tracker.level]), lang),
        footer_right=f"{local_now.strftime('%Y-%m-%d %H:%M')} {req.username}",
        page_label=page_label(lang),
    )


# ---------------------------------------------------------------- one read snapshot

def begin_read_snapshot(session) -> None:
    """Start a read-only transaction that sees one consistent snapshot for the whole export.

    SQLite: a plain BEGIN (not BEGIN IMMEDIATE: a minutes-long export must not hold the write
    lock; WAL gives the reader a snapshot). PostgreSQL: REPEATABLE READ, so counts, the
    marking and the rows agree even while others write.
    """
    session.rollback()
    coredb._force_write.set(False)  # core.db has no public "read intent"; CLI/threads default to write
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def end_read_snapshot(session) -> None:
    session.rollback()
    coredb.begin_write(session)


# ---------------------------------------------------------------- writing

def total_rows(session, req: ExportRequest, tz) -> int:
    if req.target == regs.PACK:
        return sum(regs.count(session, r, req.filters, tz) for r in pack_registers(req))
    return regs.count(session, regs.get(req.target), req.filters, tz)


def pack_registers(req: ExportRequest) -> list[regs.Register]:
    """The registers the requesting role may see (the pack holds one sheet for each)."""
    role = req.role
    return [r for r in regs.available() if role == "admin" or role in r.roles]


def write_export(session, req: ExportRequest, path: Path, *, progress=None, settings: dict | None = None,
                 max_rows_per_sheet: int | None = None) -> ExportResult:
    """Write the workbook for `req` to `path` (a register or the inspection pack). Reads only."""
    from registry.core.settings import load as load_settings

    settings = settings or load_settings(session)
    now = utcnow()
    ctx = make_context(session, req, settings, now)
    local_now = now.astimezone(ctx.tz)
    tzname = str(ctx.tz.key if hasattr(ctx.tz, "key") else ctx.tz)
    seq, head_hash = audit.head(session)
    checkpoint = f"{seq}:{head_hash}"
    max_rows = max_rows_per_sheet or setting("EXPORT_MAX_ROWS_PER_SHEET")
    book = RegisterWorkbook(str(path), max_rows_per_sheet=max_rows)
    counts: dict[str, int] = {}
    markings: dict[str, str] = {}
    done = [0]

    def step(base):
        if progress is None:
            return None
        return lambda n: progress(base + n)

    try:
        targets = pack_registers(req) if req.target == regs.PACK else [regs.get(req.target)]
        cover = book.reserve_sheet("封面" if req.lang == ZH else "Cover") if req.target == regs.PACK else None
        overall = None
        for register in targets:
            initial = regs.highest_level(session, register, req.filters, ctx.tz)
            tracker = regs.LevelTracker(initial)
            spec = sheet_spec(register, req, settings=settings, local_now=local_now, tzname=tzname,
                              checkpoint=checkpoint, initial_level=initial, tracker=tracker)
            n = book.write_register(spec, regs.rows(session, register, req.filters, ctx, tracker=tracker),
                                    progress=step(done[0]))
            done[0] += n
            counts[register.name] = n
            level = max_level([initial, tracker.level])
            markings[register.name] = level_marking(level, req.lang)
            overall = max_level([overall, level])
        if cover is not None:
            _write_cover(book, cover, req, settings=settings, local_now=local_now, tzname=tzname, seq=seq,
                         head_hash=head_hash, targets=targets, counts=counts, markings=markings,
                         marking=level_marking(overall, req.lang))
        marking = level_marking(overall, req.lang)
    finally:
        book.close()
    return ExportResult(path=Path(path), filename=filename_for(req, now), rows=done[0], counts=counts,
                        marking=marking, checkpoint=checkpoint)


def _write_cover(book, ws, req, *, settings, local_now, tzname, seq, head_hash, targets, counts, markings, marking):
    lang = req.lang
    zh = lang == ZH
    stamp = local_now.strftime("%Y-%m-%d %H:%M")
    lines = [
        settings.get("unit_name") or "",
        "保密检查资料汇编" if zh else "Inspection pack",
        (f"统计期间：{req.filters.text(lang)}" if zh else f"Period: {req.filters.text(lang)}"),
        (f"导出时间：{stamp}（{tzname}）　导出人：{_who(req)}" if zh
         else f"Exported at: {stamp} ({tzname})   by: {_who(req)}"),
        (f"审计链头序号：{seq}" if zh else f"Audit chain head sequence: {seq}"),
        (f"审计链头哈希：{head_hash}" if zh else f"Audit chain head hash: {head_hash}"),
        (f"审计检查点（序号:哈希）：{seq}:{head_hash}" if zh else f"Audit checkpoint (SEQ:HASH): {seq}:{head_hash}"),
        (f"密级标志：{marking}" if zh else f"Marking: {marking}"),
    ]
    headers = (["序号", "台账", "工作表", "记录数", "密级标志", "期间依据"] if zh
               else ["No.", "Register", "Sheet", "Rows", "Marking", "Period by"])
    rows = []
    for i, register in enumerate(targets, 1):
        rows.append([i, register.title(lang), register.name, counts.get(register.name, 0),
                     markings.get(register.name, ""), register.date_label[0 if zh else 1]])
    book.write_table(ws, lines, headers, ["seq", "text", "text", "int", "text", "text"], [6, 34, 16, 10, 12, 16],
                     rows, marking=marking, page_left=settings.get("unit_short_name") or "",
                     page_right=lines[1], page_label=page_label(lang))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def record_export(session, req: ExportRequest, result: ExportResult, *, actor=None) -> None:
    """Append the export to the audit trail (caller holds the write transaction and commits)."""
    actor = actor if actor is not None else (Actor(req.user_id, req.username) if req.user_id else None)
    data = {"register": req.target, "filters": {**req.filters.as_json(), "lang": req.lang}, "rows": result.rows,
            "sha256": result.sha256, "file": result.filename, "checkpoint": result.checkpoint}
    if req.target == regs.PACK:
        data["counts"] = result.counts
    event = audit.record(session, actor=actor, action=f"export.{req.target}", entity_type="export", data=data)
    result.audit_seq = event.seq


def export_now(session, req: ExportRequest, directory: Path, *, actor=None, progress=None) -> ExportResult:
    """Write, hash, record and commit; returns the result (the caller streams and deletes the file)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{req.target}-", suffix=".xlsx", dir=directory)
    os.close(fd)
    path = Path(tmp)
    try:
        begin_read_snapshot(session)
        result = write_export(session, req, path, progress=progress)
        end_read_snapshot(session)
        result.sha256 = sha256_file(path)
        record_export(session, req, result, actor=actor)
        session.commit()
    except BaseException:
        session.rollback()
        path.unlink(missing_ok=True)
        raise
    return result


# ---------------------------------------------------------------- background jobs

_semaphore: threading.BoundedSemaphore | None = None
_semaphore_lock = threading.Lock()
THREADS: dict[str, threading.Thread] = {}


def _slots() -> threading.BoundedSemaphore:
    global _semaphore
    with _semaphore_lock:
        if _semaphore is None:
            _semaphore = threading.BoundedSemaphore(max(1, int(setting("EXPORT_JOB_CONCURRENCY") or 1)))
        return _semaphore


def export_dir(app=None) -> Path:
    app = app or current_app
    path = Path(app.config.get("EXPORT_DIR") or "exports")
    if not path.is_absolute():
        path = Path(app.instance_path) / path
    return path


def job_dir(job_id: str, app=None) -> Path | None:
    if not JOB_ID_RE.match(job_id or ""):
        return None
    return export_dir(app) / job_id


def _write_status(folder: Path, status: dict) -> None:
    tmp = folder / "status.json.tmp"
    tmp.write_text(json.dumps(status, ensure_ascii=False, sort_keys=True))
    os.replace(tmp, folder / "status.json")


def read_status(job_id: str, app=None) -> dict | None:
    folder = job_dir(job_id, app)
    if folder is None:
        return None
    try:
        status = json.loads((folder / "status.json").read_text())
    except (OSError, ValueError):
        return None
    stale = int((app or current_app).config.get("EXPORT_JOB_STALE_SECONDS", DEFAULTS["EXPORT_JOB_STALE_SECONDS"]))
    if status.get("state") in ("queued", "running") and _time.time() - status.get("heartbeat", 0) > stale:
        status["state"] = "failed"
        status["error"] = "interrupted"
    return status


def job_file(job_id: str, status: dict, app=None) -> Path | None:
    folder = job_dir(job_id, app)
    if folder is None or status.get("state") != "done" or not status.get("file"):
        return None
    path = folder / status["file"]
    return path if path.is_file() else None


def may_read_job(user, status: dict) -> bool:
    """Only the user who started a job (or an administrator) sees its status and file."""
    return status.get("request", {}).get("user_id") == user.id or user.role.value == "admin"


def start_job(req: ExportRequest, *, rows_total: int | None = None) -> str:
    """Create a job folder and run the export in a background thread; returns the job id."""
    app = current_app._get_current_object()
    purge_old(app)
    job_id = secrets.token_urlsafe(18)
    folder = export_dir(app) / job_id
    folder.mkdir(parents=True)
    now = _time.time()
    _write_status(folder, {"id": job_id, "state": "queued", "request": req.as_json(), "rows_done": 0,
                           "rows_total": rows_total, "created": now, "heartbeat": now, "file": None,
                           "sha256": None, "error": None})
    thread = threading.Thread(target=_run_job, args=(app, job_id), name=f"export-{job_id[:8]}", daemon=True)
    THREADS[job_id] = thread
    thread.start()
    return job_id


def _run_job(app, job_id: str) -> None:
    from registry.extensions import db

    folder = export_dir(app) / job_id
    status = json.loads((folder / "status.json").read_text())
    req = ExportRequest.from_json(status["request"])
    slots = None
    with app.app_context():
        slots = _slots()
        while not slots.acquire(timeout=15):
            status["heartbeat"] = _time.time()
            _write_status(folder, status)
        try:
            context.set_request_facts(req.ip, req.via)
            status.update(state="running", heartbeat=_time.time(), started=_time.time())
            _write_status(folder, status)
            last = [0.0]

            def progress(n):
                now = _time.time()
                if now - last[0] >= 0.5:
                    last[0] = now
                    status.update(rows_done=n, heartbeat=now)
                    _write_status(folder, status)

            result = export_now(db.session, req, folder, progress=progress)
            final = folder / result.filename
            os.replace(result.path, final)
            status.update(state="done", rows_done=result.rows, file=final.name, sha256=result.sha256,
                          finished=_time.time(), heartbeat=_time.time(), audit_seq=result.audit_seq,
                          counts=result.counts)
            _write_status(folder, status)
        except Exception as exc:  # the job reports, the worker survives
            log.exception("export job %s failed", job_id)
            status.update(state="failed", error=type(exc).__name__, heartbeat=_time.time())
            _write_status(folder, status)
        finally:
            db.session.remove()
            slots.release()
            THREADS.pop(job_id, None)


def wait(job_id: str, timeout: float = 60) -> None:
    """Wait for a job of this process to finish (tests, CLI)."""
    thread = THREADS.get(job_id)
    if thread is not None:
        thread.join(timeout)


def purge_old(app=None) -> None:
    """Delete job folders older than EXPORT_JOB_TTL_HOURS."""
    app = app or current_app
    root = export_dir(app)
    if not root.is_dir():
        return
    ttl = float(app.config.get("EXPORT_JOB_TTL_HOURS", DEFAULTS["EXPORT_JOB_TTL_HOURS"])) * 3600
    cutoff = _time.time() - ttl
    for folder in root.iterdir():
        if folder.is_dir() and JOB_ID_RE.match(folder.name) and folder.name not in THREADS:
            try:
                if (folder / "status.json").stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                continue


def user_jobs(user, limit: int = 10) -> list[dict]:
    """The user's recent jobs, newest first (for the Registers page)."""
    root = export_dir()
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        if folder.is_dir() and JOB_ID_RE.match(folder.name):
            status = read_status(folder.name)
            if status and status.get("request", {}).get("user_id") == user.id:
                found.append(status)
    found.sort(key=lambda s: s.get("created", 0), reverse=True)
    return found[:limit]

