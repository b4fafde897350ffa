"""Excel imports: rows of a register's layout become new records, validated by the same forms
and created by the same services as the API, all or nothing (SPEC §8).

* The layout is the export's (title block and all) or the downloadable template: the header
  row is found by matching its cells against the register's headers in either language.
* Every row is validated with the register's form (the API's `validate_with`) and created
  with the domain's service inside a savepoint; errors are collected per row and column.
  References are given by human keys (employee number, room code, registry number).
* A row whose key (employee number, room code, registry number, visitor document) already
  exists, in the database or earlier in the file, is an error, never an update.
* A dry run, or any error, rolls everything back. Only a clean run flushes its records and
  one `import.<register>` audit event; the caller commits.
* Hostile files are refused before openpyxl opens them (`safety.inspect_xlsx`: size, zip
  bombs, entity declarations) and openpyxl parses with defusedxml (asserted below).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import warnings
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import defusedxml  # noqa: F401  (openpyxl parses through defusedxml when it is installed)
import openpyxl
import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from registry.core.api import to_formdata
from registry.core.errors import DomainError, ValidationFailed
from registry.exports.columns import EN, ZH, Column, Register, vocabulary_lookup
from registry.exports.safety import UploadLimits, excel_unescape, inspect_xlsx, refuse

if not openpyxl.DEFUSEDXML:  # pragma: no cover - an installation problem, refuse to run
    raise RuntimeError("defusedxml must be installed (and OPENPYXL_DEFUSEDXML not disabled) to read uploads safely")

HEADER_SCAN_ROWS = 30
PREVIEW_ROWS = 200
SPLIT = re.compile(r"[,，、;；\n]+")
TRUE_WORDS = {"是", "yes", "y", "true", "1", "√", "✓", "x"}
FALSE_WORDS = {"否", "no", "n", "false", "0", ""}


def limits(max_rows: int | None = None) -> UploadLimits:
    """Upload limits from the configuration (IMPORT_MAX_BYTES, IMPORT_MAX_UNCOMPRESSED, IMPORT_MAX_RATIO,
    IMPORT_MAX_MEMBERS, IMPORT_MAX_ROWS); `max_rows` overrides the row limit (the CLI's is larger)."""
    cfg = current_app.config
    base = UploadLimits()
    return UploadLimits(
        max_bytes=int(cfg.get("IMPORT_MAX_BYTES", base.max_bytes)),
        max_uncompressed=int(cfg.get("IMPORT_MAX_UNCOMPRESSED", base.max_uncompressed)),
        max_ratio=int(cfg.get("IMPORT_MAX_RATIO", base.max_ratio)),
        max_members=int(cfg.get("IMPORT_MAX_MEMBERS", base.max_members)),
        max_rows=int(max_rows if max_rows is not None else cfg.get("IMPORT_MAX_ROWS", base.max_rows)),
    )


@dataclass
class ImportResult:
    register: str
    dry_run: bool
    created: int = 0
    rows: int = 0
    errors: list[dict] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict:
        return {"created": self.created, "errors": self.errors, "dry_run": self.dry_run, "rows": self.rows}


def _norm(text) -> str:
    return re.sub(r"\s+", "", str(text or "")).lower()


# ---------------------------------------------------------------- upload handling

def save_upload(stream, folder: Path, *, max_bytes: int) -> tuple[Path, int]:
    """Copy an uploaded stream to `folder/upload.xlsx`, refusing it past `max_bytes` (413)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "upload.xlsx"
    size = 0
    with open(path, "wb") as out:
        while True:
            chunk = stream.read(1024 * 1024)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                out.close()
                shutil.rmtree(folder, ignore_errors=True)
                raise refuse(_("The file is larger than %(mb)d MB.", mb=max_bytes // (1024 * 1024)),
                             status=413, code="too_large")
            out.write(chunk)
    return path, size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def open_workbook(fh, path: Path, size: int):
    """Refuse hostile files first, then open read-only through defusedxml (from `fh`, which the
    caller closes: openpyxl leaves its own handle open when it fails)."""
    inspect_xlsx(str(path), size, limits())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return openpyxl.load_workbook(fh, read_only=True, data_only=False, keep_links=False)
    except DomainError:
        raise
    except Exception as exc:  # defusedxml.EntitiesForbidden, KeyError, InvalidFileException, BadZipFile …
        chain, cause = [], exc
        while cause is not None and len(chain) < 10:
            chain.append(type(cause).__name__)
            cause = cause.__cause__ or cause.__context__
        if any("Forbidden" in n or "Entities" in n or "DTD" in n for n in chain):
            raise refuse(_("The workbook contains XML entity declarations, which are not accepted.")) from None
        raise refuse(_("The file could not be read as an Excel workbook (.xlsx).")) from None


# ---------------------------------------------------------------- cell parsing

def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "y" if value else ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return excel_unescape(str(value))


def _parse_date(value) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = _text(value).strip()
    m = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", text)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
        except ValueError:
            return text
    return text


class CellError(Exception):
    pass


class Resolver:
    """Human keys -> ids (employee number, room code, registry number, project name), cached."""

    def __init__(self, session):
        self.session = session
        self.cache: dict = {}

    def targets(self, kind):
        if kind == "person":
            from registry.people.models import Person
            return Person, Person.employee_no, _("Unknown employee number: %(v)s")
        if kind == "room":
            from registry.areas.models import Room
            return Room, Room.code, _("Unknown room code: %(v)s")
        if kind == "asset":
            from registry.assets.models import Asset
            return Asset, Asset.registry_no, _("Unknown registry number: %(v)s")
        if kind == "project":
            from registry.cooperation.models import CooperationProject
            return CooperationProject, CooperationProject.name, _("Unknown cooperation project: %(v)s")
        raise KeyError(kind)

    def __call__(self, kind: str, value: str) -> int:
        key = (kind, value.lower())
        if key not in self.cache:
            model, column, message = self.targets(kind)
            found = self.session.scalars(sa.select(model.id).where(sa.func.lower(column) == value.lower())
                                         .limit(2)).all()
            if len(found) != 1:
                raise CellError(message % {"v": value})
            self.cache[key] = found[0]
        return self.cache[key]


def parse_cell(column: Column, cell, resolver: Resolver, lang: str):
    """Turn one cell into the form value of its field; raises CellError with a clear message."""
    if getattr(cell, "data_type", None) == "f":
        raise CellError(_("Formulas are not accepted; enter the value itself."))
    value = cell.value if hasattr(cell, "value") else cell
    if column.ref:
        text = _text(value).strip()
        if not text:
            return [] if column.multi else ""
        if column.multi:
            return [str(resolver(column.ref, part.strip())) for part in SPLIT.split(text) if part.strip()]
        return str(resolver(column.ref, text))
    if column.multi:
        text = _text(value).strip()
        return [part.strip() for part in SPLIT.split(text) if part.strip()]
    if column.kind == "date":
        return _parse_date(value) if value not in (None, "") else ""
    if column.kind == "bool":
        if isinstance(value, bool):
            return "y" if value else ""
        word = _text(value).strip().lower()
        if word in TRUE_WORDS:
            return "y"
        if word in FALSE_WORDS:
            return ""
        raise CellError(_("Use 是/否 or Yes/No."))
    if column.kind == "enum" and column.labels:
        text = _text(value).strip()
        if not text:
            return ""
        key = vocabulary_lookup(column.labels).get(text.lower())
        if key is None:
            choices = "、".join(dict.fromkeys(pair[0 if lang == ZH else 1] for pair in column.labels.values()))
            raise CellError(_("Unknown value “%(v)s”; use one of: %(choices)s", v=text, choices=choices))
        return key
    if column.kind == "int":
        text = _text(value).strip()
        return text
    return _text(value)


# ---------------------------------------------------------------- header row

@dataclass
class Layout:
    sheet: object
    header_row: int                       # 1-based, as Excel shows it
    columns: dict[int, Column]            # 0-based cell index -> column
    headers: dict[str, str]               # field -> header text as found
    lang: str


def find_layout(ws, register: Register) -> Layout | None:
    """Find the header row (title block skipped) by matching header texts in either language."""
    names: dict[str, Column] = {}
    for col in register.import_columns():
        for text in (col.zh, col.en, col.key, col.field):
            names.setdefault(_norm(text), col)
    key_field = register.importer.key
    for r, row in enumerate(ws.iter_rows(min_row=1, max_row=HEADER_SCAN_ROWS, values_only=True), start=1):
        found: dict[int, Column] = {}
        headers: dict[str, str] = {}
        zh_hits = en_hits = 0
        for i, value in enumerate(row or ()):
            if value is None or not isinstance(value, str):
                continue
            col = names.get(_norm(excel_unescape(value)))
            if col is not None and col.field not in headers:
                found[i] = col
                headers[col.field] = value.strip()
                zh_hits += _norm(value) == _norm(col.zh)
                en_hits += _norm(value) == _norm(col.en)
        if key_field in headers and len(found) >= 2:
            return Layout(ws, r, found, headers, ZH if zh_hits >= en_hits else EN)
    return None


def validate_row(form_cls, data: dict):
    """The API's validation (`core.api.validate_with`: the same form, the same JSON-to-form mapping),
    with the form built once per row; raises ValidationFailed with {field: [messages]}."""
    form = form_cls(formdata=to_formdata(data), meta={"csrf": False})
    if not form.validate():
        raise ValidationFailed(details={k: [str(m) for m in v] for k, v in form.errors.items()})
    return form


def _required_fields(form_cls) -> set[str]:
    form = form_cls(formdata=None, meta={"csrf": False})
    return {name for name, f in form._fields.items() if f.flags.required}


# ---------------------------------------------------------------- the import

def import_file(session, register: Register, path: Path, *, actor, dry_run: bool, size: int | None = None,
                filename: str = "", max_rows: int | None = None) -> ImportResult:
    """Validate and create every row of the file. Rolls back on a dry run or any error;
    otherwise flushes the new records and an `import.<register>` audit event (caller commits)."""
    spec = register.importer
    if spec is None:
        raise DomainError(_("This register cannot be imported."), code="not_found", status=404)
    size = path.stat().st_size if size is None else size
    result = ImportResult(register=register.name, dry_run=dry_run, sha256=file_sha256(path))
    with open(path, "rb") as fh:
        book = open_workbook(fh, path, size)
        try:
            return _import_book(session, register, book, result, actor=actor, dry_run=dry_run, filename=filename,
                                max_rows=limits(max_rows).max_rows)
        finally:
            book.close()


def _import_book(session, register: Register, book, result: ImportResult, *, actor, dry_run: bool,
                 filename: str, max_rows: int) -> ImportResult:
    from registry.core import audit

    spec = register.importer
    layouts = [lay for lay in (find_layout(ws, register) for ws in book.worksheets) if lay is not None]
    if not layouts:
        raise refuse(_("No header row of the register “%(name)s” was found in the file. Use the template or an "
                       "export of this register.", name=f"{register.zh} / {register.en}"))
    form_cls = spec.form()
    required = _required_fields(form_cls)
    first = layouts[0]
    result.headers = [col.header(first.lang) for col in register.import_columns()]
    present = set(first.headers)
    for fld in sorted(required - present - set(spec.defaults)):
        col = next((c for c in register.import_columns() if c.field == fld), None)
        name = col.header(first.lang) if col else fld
        result.errors.append({"row": first.header_row, "field": fld, "column": name,
                              "message": _("The column “%(name)s” is missing.", name=name)})
    if result.errors:
        session.rollback()
        return result
    counted = 0
    for layout in layouts:  # count first: a file over the limit is refused before any work
        width = max(layout.columns) + 1
        for values in layout.sheet.iter_rows(min_row=layout.header_row + 1, max_col=width, values_only=True):
            if any(v not in (None, "") for v in values):
                counted += 1
                if counted > max_rows:
                    session.rollback()
                    raise refuse(_("The file has more than %(n)d rows; split it into smaller files.",
                                   n=max_rows))
    resolver = Resolver(session)
    seen_keys: set[str] = set()
    for layout in layouts:
        width = max(layout.columns) + 1
        for r, cells in enumerate(layout.sheet.iter_rows(min_row=layout.header_row + 1, max_col=width),
                                  start=layout.header_row + 1):
            if all(c.value in (None, "") for c in cells):
                continue
            result.rows += 1
            _import_row(session, register, layout, cells, r, resolver, seen_keys, result, actor)
    if dry_run or result.errors:
        session.rollback()
        if result.errors:
            result.created = 0
        return result
    audit.record(session, actor=actor, action=f"import.{register.name}", entity_type="import",
                 data={"register": register.name, "created": result.created, "rows": result.rows,
                       "sha256": result.sha256, "file": filename[:200]})
    return result


def _import_row(session, register, layout: Layout, cells, r, resolver, seen_keys, result, actor) -> None:
    spec = register.importer
    data = dict(spec.defaults)
    errors = []
    shown = {}
    for i, col in layout.columns.items():
        cell = cells[i] if i < len(cells) else None
        if cell is None:
            continue
        try:
            value = parse_cell(col, cell, resolver, layout.lang)
            if value in ("", []) and col.field in spec.defaults:
                value = spec.defaults[col.field]  # an empty cell takes the register's default
            data[col.field] = value
        except CellError as exc:
            errors.append({"row": r, "field": col.field, "column": layout.headers.get(col.field, col.key),
                           "message": str(exc)})
        shown[layout.headers.get(col.field, col.key)] = _text(cell.value)
    key = spec.key_of(data)
    if key and not errors:
        if key in seen_keys:
            errors.append({"row": r, "field": spec.key, "column": layout.headers.get(spec.key, spec.key),
                           "message": _("This key appears twice in the file.")})
        elif spec.key_exists(session, data):
            errors.append({"row": r, "field": spec.key, "column": layout.headers.get(spec.key, spec.key),
                           "message": _("Already registered; an import only creates new records.")})
        seen_keys.add(key)
    if not errors:
        try:
            form = validate_row(spec.form(), data)
            with session.begin_nested():
                spec.create(session, form.data, actor)
            result.created += 1
        except ValidationFailed as exc:
            for fld, messages in (exc.details or {}).items():
                for message in messages:
                    errors.append({"row": r, "field": fld, "column": layout.headers.get(fld, fld),
                                   "message": str(message)})
        except DomainError as exc:
            errors.append({"row": r, "field": getattr(exc, "code", ""), "column": "",
                           "message": f"{exc.message} ({exc.code})"})
    result.errors.extend(errors)
    if len(result.preview) < PREVIEW_ROWS:
        result.preview.append({"row": r, "values": shown, "ok": not errors})


# ---------------------------------------------------------------- pending uploads (page flow)

def imports_dir() -> Path:
    path = Path(current_app.config.get("IMPORT_DIR") or "imports")
    if not path.is_absolute():
        path = Path(current_app.instance_path) / path
    return path


TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,40}$")


def pending_dir(token: str) -> Path | None:
    if not TOKEN_RE.match(token or ""):
        return None
    return imports_dir() / token


def purge_pending(max_age_hours: float = 24) -> None:
    import time

    root = imports_dir()
    if not root.is_dir():
        return
    cutoff = time.time() - max_age_hours * 3600
    for folder in root.iterdir():
        try:
            if folder.is_dir() and TOKEN_RE.match(folder.name) and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def template_columns(register: Register) -> list[Column]:
    return register.import_columns()


def write_template(register: Register, lang: str, path: Path, *, unit: str) -> None:
    """An empty register with the import's header row (same headers as the export)."""
    from registry.exports.builders import SheetSpec, build_register
    from registry.exports.jobs import page_label

    cols = template_columns(register)
    if lang == ZH:
        lines = [unit, f"{register.zh} — 导入模板",
                 "每行填写一条新记录；保留表头行。日期格式 YYYY-MM-DD；选项可填写中文或英文；人员填写工号，部位填写部位编号。"]
    else:
        lines = [unit, f"{register.en} — import template",
                 "One new record per row below the header; keep the header row. Dates as YYYY-MM-DD; choices in "
                 "Chinese or English; people by employee number, rooms by room code."]
    idx = 0 if lang == ZH else 1
    choices = {}
    for i, col in enumerate(cols):
        if col.kind == "enum" and col.labels and not col.ref:
            choices[i] = list(dict.fromkeys(pair[idx] for pair in col.labels.values()))
        elif col.kind == "bool":
            choices[i] = ["是", "否"] if lang == ZH else ["Yes", "No"]
    spec = SheetSpec(name=register.title(lang), headers=[c.header(lang) for c in cols], kinds=[c.kind for c in cols],
                     widths=[max(c.width, 12) for c in cols], wraps=[c.wrap for c in cols], title_lines=lines,
                     page_left=unit, page_right=register.title(lang), page_marking="内部" if lang == ZH else "INTERNAL",
                     page_label=page_label(lang), choices=choices)
    build_register(str(path), spec, [])

