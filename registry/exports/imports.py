"""Excel imports: rows of a register's layout become new records, validated by the same forms
and created by the same services as the API, all or nothing (SPEC §8).

* The layout is the export's (title block and all) or the downloadable template: the header
  row is found by matching its cells against the register's headers in either language.
* Every row is read and parsed first (a file over the row limit is refused before anything is
  validated), then validated with the register's form (the API's `validate_with`, one form
  re-processed per row) and created with the domain's service inside a savepoint; errors are
  collected per row and column. A register with a bulk service (`ImportSpec.bulk`: the asset
  registers) checks and builds every row with the service's rules first and creates them all at
  once at the end (numbers, labels, one audit event per record in chain order).
  References are given by human keys (employee number, room code, registry number), loaded
  once per file when a file names many of them.
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
import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from registry.core.api import to_formdata
from registry.core.errors import DomainError, ValidationFailed
from registry.core.memory import paused_gc
from registry.exports.columns import EN, ZH, Column, Register, vocabulary_lookup
from registry.exports.safety import UploadLimits, excel_unescape, inspect_xlsx, refuse



def _openpyxl():
    """openpyxl, imported on the first upload (~7 MiB a web worker that never imports does not carry)."""
    import openpyxl

    if not openpyxl.DEFUSEDXML:  # pragma: no cover - an installation problem, refuse to run
        raise RuntimeError("defusedxml must be installed (and OPENPYXL_DEFUSEDXML not disabled) to read uploads safely")
    return openpyxl

HEADER_SCAN_ROWS = 30
PREVIEW_ROWS = 200
SPLIT = re.compile(r"[,，、;；\n]+")
TRUE_WORDS = {"是", "yes", "y", "true", "1", "√", "✓", "x"}
FALSE_WORDS = {"否", "no", "n", "false", "0", ""}


# Registers with a bulk service (the asset registers) import ~0.3 ms of CPU per row instead of
# ~10 ms (docs/PERFORMANCE.md, "Import"): 20,000 rows stay within a sync worker's 30 s, twice
# (preview, then confirm), even at 100,000 registered items.
BULK_MAX_ROWS = 20_000


def limits(max_rows: int | None = None, register: Register | None = None) -> UploadLimits:
    """Upload limits from the configuration (IMPORT_MAX_BYTES, IMPORT_MAX_UNCOMPRESSED, IMPORT_MAX_RATIO,
    IMPORT_MAX_MEMBERS, IMPORT_MAX_ROWS; IMPORT_MAX_ROWS_BULK for a `register` imported in bulk);
    `max_rows` overrides the row limit (the CLI's is larger)."""
    cfg = current_app.config
    base = UploadLimits()
    if max_rows is None and register is not None and register.importer is not None \
            and register.importer.bulk is not None:
        max_rows = cfg.get("IMPORT_MAX_ROWS_BULK", BULK_MAX_ROWS)
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
            return _openpyxl().load_workbook(fh, read_only=True, data_only=False, keep_links=False)
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
    """Human keys -> ids (employee number, room code, registry number, project name), cached.

    The first PRELOAD_AFTER keys of a kind are looked up one query each; after that the whole
    table's keys are loaded once (same comparison: `lower(column)` in SQL against the value
    lower-cased; a key held by two records is ambiguous, i.e. unknown)."""

    PRELOAD_AFTER = 20

    def __init__(self, session):
        self.session = session
        self.cache: dict = {}
        self.queries: dict[str, int] = {}
        self.tables: dict[str, dict] = {}

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

    def _table(self, kind: str) -> dict | None:
        table = self.tables.get(kind)
        if table is None and self.queries.get(kind, 0) >= self.PRELOAD_AFTER:
            model, column, _message = self.targets(kind)
            table = {}
            for record_id, key in self.session.execute(sa.select(model.id, sa.func.lower(column))):
                if key is not None:
                    table[key] = None if key in table else record_id  # None: ambiguous
            self.tables[kind] = table
        return table

    def __call__(self, kind: str, value: str) -> int:
        key = (kind, value.lower())
        if key not in self.cache:
            table = self._table(kind)
            if table is not None:
                found = [table[key[1]]] if table.get(key[1]) is not None else []
            else:
                model, column, _message = self.targets(kind)
                self.queries[kind] = self.queries.get(kind, 0) + 1
                found = self.session.scalars(sa.select(model.id).where(sa.func.lower(column) == value.lower())
                                             .limit(2)).all()
            if len(found) != 1:
                raise CellError(self.targets(kind)[2] % {"v": value})
            self.cache[key] = found[0]
        return self.cache[key]


_VOCABULARIES: dict[int, tuple[dict, dict]] = {}


def _vocabulary(labels: dict) -> dict[str, str]:
    """vocabulary_lookup(labels), built once per labels dict (the registers' constants)."""
    known = _VOCABULARIES.get(id(labels))
    if known is None or known[0] is not labels:
        known = _VOCABULARIES[id(labels)] = (labels, vocabulary_lookup(labels))
    return known[1]


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
        key = _vocabulary(column.labels).get(text.lower())
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


def _form_values(value) -> tuple[str, ...] | None:
    """What `to_formdata({key: value}).getlist(key)` holds, as a tuple; None where the key would be absent."""
    if isinstance(value, list):
        return tuple("" if item is None else str(item) for item in value) or None
    if isinstance(value, bool):
        return ("y" if value else "",)
    if value is None:
        return ("",)
    if isinstance(value, str):
        return (value,)
    return tuple(to_formdata({"v": value}).getlist("v"))


class RowForm:
    """`validate_row` for many rows: the form is built once and re-processed for each row, as
    WTForms' `Form.process()` and `Form.validate()` do it (same fields, defaults, filters and
    validators, `validate_<field>` methods last).

    Most cells repeat (a level, a kind, a custodian, an empty column), so what a field's own
    processing and validators make of an input is remembered per input, for the fields whose
    processing and own validators look at nothing but that input (the field and validator types
    listed below or a field class marked `row_local`, static choices, no `filter_<field>`; a person
    field also reads the text typed in its picker, `<name>_q`, which is part of the key). The key is
    the form data the row's value turns into (`to_formdata`, without building it); only the fields
    not remembered yet are processed, from form data holding just their keys. A form's
    `validate_<field>` method may read other fields (the subtype is checked against the kind): it
    runs on every row, after the remembered outcome, unless the field's own validators stopped the
    chain. A form that overrides `process`, `post_process` or `validate` is run whole, as
    `validate_row` does."""

    def __init__(self, form_cls):
        from wtforms import validators as v
        from wtforms.fields import Field
        from wtforms.form import BaseForm, Form

        from registry.core import forms as f

        self.form = form_cls(formdata=None, meta={"csrf": False})
        self.whole = (form_cls.validate is not Form.validate or form_cls.process is not BaseForm.process
                      or form_cls.post_process is not BaseForm.post_process)
        local_fields = (f.TextField, f.LongTextField, f.EnumSelectField, f.IdSelectField, f.BoolField, f.DateField,
                        f.IntegerField, f.PersonField, f.PersonListField)  # person fields: + `<name>_q` in the key
        typed = (f.PersonField, f.PersonListField)
        local_validators = (v.DataRequired, v.InputRequired, v.Optional, v.Length, v.NumberRange,
                            f.NoControlChars)
        self.inline = {name: [getattr(form_cls, f"validate_{name}")] for name in self.form._fields
                       if getattr(form_cls, f"validate_{name}", None) is not None}
        self.local = {name for name, fld in self.form._fields.items()
                      if (type(fld) in local_fields or getattr(type(fld), "row_local", False))
                      and getattr(self.form, f"filter_{name}", None) is None
                      and getattr(fld, "_choices_callable", None) is None
                      and all(type(val) in local_validators for val in fld.validators)}
        # (name, field, the `<name>_q` it reads or None, the field's memo or None, has checks of the form or
        # its own post_validate)
        self.plan = [(name, fld, f"{name}_q" if isinstance(fld, typed) else None, {} if name in self.local else None,
                      name in self.inline or type(fld).post_validate is not Field.post_validate)
                     for name, fld in self.form._fields.items()]

    @staticmethod
    def _own_validation(form, fld) -> bool:
        """`Field.validate` up to the field's own validators (not the form's `validate_<field>`, not
        `post_validate`); returns whether the chain stopped."""
        from wtforms.validators import StopValidation, ValidationError

        fld.errors = list(fld.process_errors)
        stop = False
        try:
            fld.pre_validate(form)
        except StopValidation as e:
            if e.args and e.args[0]:
                fld.errors.append(e.args[0])
            stop = True
        except ValidationError as e:
            fld.errors.append(e.args[0])
        if not stop:
            stop = fld._run_validation_chain(form, fld.validators)
        return stop

    def __call__(self, data: dict) -> dict:
        form = self.form
        if self.whole:
            form.process(formdata=to_formdata(data))
            if not form.validate():
                raise ValidationFailed(details={k: [str(m) for m in v] for k, v in form.errors.items()})
            return form.data
        stops, errors, run, whole_data = {}, {}, [], False
        for name, fld, typed, memo, checked in self.plan:
            if memo is not None:
                if name in data:
                    value = data[name]
                    raw = (value,) if type(value) is str else _form_values(value)
                else:
                    raw = None
                key = (raw, (_form_values(data[typed]) or ()) if typed and typed in data else ())
                hit = memo.get(key)
                if hit is not None:
                    value, errs, stop = hit
                    fld.data = list(value) if type(value) is list else value
                    if checked:  # what the form's check and post_validate below see
                        fld.raw_data = list(raw or ())
                        fld.errors = list(errs)
                        stops[name] = stop
                    elif errs:
                        errors[name] = [str(m) for m in errs]
                    continue
                run.append((name, fld, memo, key, checked))
            else:
                run.append((name, fld, None, None, True))
                whole_data = True
        if run:
            if whole_data:  # a field of its own kind may read any key (a computer's `<name>_no`)
                formdata = to_formdata(data)
            else:
                formdata = to_formdata({k: data[k] for name, *_rest in run for k in (name, f"{name}_q") if k in data})
            for _name, fld, *_rest in run:
                fld.process(formdata)
            for _name, fld, *_rest in run:
                fld.post_process(formdata)
            for name, fld, memo, key, checked in run:
                if memo is None:
                    fld.validate(form, self.inline.get(name, ()))
                    if fld.errors:
                        errors[name] = [str(m) for m in fld.errors]
                    continue
                stop = self._own_validation(form, fld)
                memo[key] = (list(fld.data) if type(fld.data) is list else fld.data, list(fld.errors), stop)
                if checked:
                    stops[name] = stop
                elif fld.errors:
                    errors[name] = [str(m) for m in fld.errors]
        inline = self.inline
        for name, fld, _typed, memo, checked in self.plan:  # the rest of Field.validate, in field order
            if memo is not None and checked:
                stop = stops[name]
                if not stop and name in inline:
                    stop = fld._run_validation_chain(form, inline[name])
                fld.post_validate(form, stop)
                if fld.errors:
                    errors[name] = [str(m) for m in fld.errors]
        if errors:
            raise ValidationFailed(details={name: errors[name] for name in form._fields if name in errors})
        return {name: fld.data for name, fld, *_rest in self.plan}


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
    with open(path, "rb") as fh, paused_gc():
        book = open_workbook(fh, path, size)
        try:
            return _import_book(session, register, book, result, actor=actor, dry_run=dry_run, filename=filename,
                                max_rows=limits(max_rows, register).max_rows)
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
    resolver = Resolver(session)
    parsed: list[ParsedRow] = []
    parsed_cells: dict = {}  # per column: (value, type, data type) -> what parse_cell made of it (values repeat)
    for layout in layouts:  # read and parse every row first: a file over the limit is refused before any check
        width = max(layout.columns) + 1
        for r, cells in enumerate(layout.sheet.iter_rows(min_row=layout.header_row + 1, max_col=width),
                                  start=layout.header_row + 1):
            if all(c.value in (None, "") for c in cells):
                continue
            if len(parsed) >= max_rows:
                session.rollback()
                raise refuse(_("The file has more than %(n)d rows; split it into smaller files.", n=max_rows))
            parsed.append(_parse_row(spec, layout, cells, r, resolver, result, parsed_cells))
    form = RowForm(form_cls)
    batch = spec.bulk(session, actor) if spec.bulk is not None else None
    seen_keys: set[str] = set()
    for row in parsed:
        result.rows += 1
        _check_row(session, spec, row, form, batch, seen_keys, result, actor)
    if dry_run or result.errors:
        session.rollback()
        if result.errors:
            result.created = 0
        return result
    if batch is not None:
        batch.write()
    audit.record(session, actor=actor, action=f"import.{register.name}", entity_type="import",
                 data={"register": register.name, "created": result.created, "rows": result.rows,
                       "sha256": result.sha256, "file": filename[:200]})
    return result


@dataclass
class ParsedRow:
    r: int                                # the row number as Excel shows it
    layout: Layout
    data: dict                            # field -> form value
    errors: list[dict]                    # cell errors
    preview: dict | None = None           # the row's entry in result.preview


def _parse_row(spec, layout: Layout, cells, r, resolver, result, memo: dict | None = None) -> ParsedRow:
    data = dict(spec.defaults)
    errors = []
    shown = {} if len(result.preview) < PREVIEW_ROWS else None
    memo = {} if memo is None else memo
    for i, col in layout.columns.items():
        cell = cells[i] if i < len(cells) else None
        if cell is None:
            continue
        value = cell.value if hasattr(cell, "value") else cell
        seen = memo.get((id(layout), i))
        if seen is None:
            seen = memo[(id(layout), i)] = {}
        key = (value, type(value), getattr(cell, "data_type", None))
        try:
            outcome = seen.get(key)
        except TypeError:  # not hashable
            key, outcome = None, None
        if outcome is None:
            try:
                parsed = parse_cell(col, cell, resolver, layout.lang)
                if parsed in ("", []) and col.field in spec.defaults:
                    parsed = spec.defaults[col.field]  # an empty cell takes the register's default
                outcome = (True, parsed)
            except CellError as exc:
                outcome = (False, str(exc))
            if key is not None:
                seen[key] = outcome
        ok, parsed = outcome
        if ok:
            data[col.field] = list(parsed) if type(parsed) is list else parsed
        else:
            errors.append({"row": r, "field": col.field, "column": layout.headers.get(col.field, col.key),
                           "message": parsed})
        if shown is not None:
            shown[layout.headers.get(col.field, col.key)] = _text(cell.value)
    row = ParsedRow(r, layout, data, errors)
    if shown is not None:
        row.preview = {"row": r, "values": shown, "ok": not errors}
        result.preview.append(row.preview)
    return row


def _check_row(session, spec, row: ParsedRow, form: RowForm, batch, seen_keys, result, actor) -> None:
    r, layout, data, errors = row.r, row.layout, row.data, row.errors
    key = spec.key_of(data)
    if key and not errors:
        if key in seen_keys:
            errors.append({"row": r, "field": spec.key, "column": layout.headers.get(spec.key, spec.key),
                           "message": _("This key appears twice in the file.")})
        elif batch.registered(key) if batch is not None else spec.key_exists(session, data):
            errors.append({"row": r, "field": spec.key, "column": layout.headers.get(spec.key, spec.key),
                           "message": _("Already registered; an import only creates new records.")})
        seen_keys.add(key)
    if not errors:
        try:
            values = form(data)
            if batch is not None:
                batch.add(values)
            else:
                with session.begin_nested():
                    spec.create(session, values, actor)
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
    if row.preview is not None:
        row.preview["ok"] = not errors


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

