"""Formula-injection safety for every exported cell, and the checks that refuse hostile uploads.

`cell_writer(ws)` (and `write_cell()`, its one-cell form) is the ONE way an export puts a value into a worksheet
(SECURITY-RESEARCH §3, §7 items 29-30; SPEC §8):

* every `str` is written with `write_string`, so nothing a user typed is ever a formula
  (`=1+1`, `#REF!` and `@SUM(A1)` stay text, byte for byte); a string whose first character
  is one of ``= + - @ TAB CR LF`` additionally gets a cell format with ``quotePrefix`` so
  that editing the cell in Excel (F2, Enter) or re-saving it does not turn it into one;
* real numbers stay numbers (`write_number`, negatives intact); integers beyond Excel's 15
  significant digits and non-finite floats are written as text so they are not altered;
* characters an xlsx file cannot hold (``\\x00-\\x08 \\x0b \\x0c \\x0e-\\x1f``, lone surrogates,
  U+FFFE, U+FFFF) are replaced by U+FFFD instead of crashing the export, and a string is cut
  to 32,767 UTF-16 code units (Excel's cell limit);
* dates and times are written as real date cells with a number format.

The workbook itself is created with ``strings_to_formulas``/``strings_to_urls``/
``strings_to_numbers`` off (`WORKBOOK_OPTIONS`), so even a stray ``worksheet.write()`` cannot
produce a formula or a hyperlink.

Reading back: the OOXML format escapes CR (and literal ``_xHHHH_`` text) as ``_xHHHH_``;
Excel decodes it, openpyxl does not. `excel_unescape()` decodes it the way Excel does and
is used by the importer (and the round-trip tests).
"""

from __future__ import annotations

import math
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from registry.core.errors import DomainError

WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}

FORMULA_TRIGGERS = frozenset("=+-@\t\r\n")
MAX_CELL_CHARS = 32767
REPLACEMENT = "\ufffd"
# Characters XML 1.0 (and so xlsx) cannot carry, plus lone surrogates (not encodable as UTF-8).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPED = re.compile("_x([0-9A-Fa-f]{4})_")
MAX_EXACT_INT = 10**15  # Excel keeps 15 significant digits


def clean_text(value: str) -> str:
    """The documented transformation of exported text: illegal characters become U+FFFD and
    the string is cut to 32,767 UTF-16 code units. Everything else is kept byte for byte."""
    if _ILLEGAL.search(value):
        value = _ILLEGAL.sub(REPLACEMENT, value)
    if len(value) > MAX_CELL_CHARS // 2:
        units = len(value.encode("utf-16-le")) // 2
        if units > MAX_CELL_CHARS:
            cut = MAX_CELL_CHARS
            while len(value[:cut].encode("utf-16-le")) // 2 > MAX_CELL_CHARS:
                cut -= 1
            value = value[:cut]
    return value


def needs_quote_prefix(text: str) -> bool:
    return bool(text) and text[0] in FORMULA_TRIGGERS


@dataclass(frozen=True)
class CellStyle:
    """The formats of one column: the normal one and its quote-prefix twin for text."""

    normal: object = None
    quoted: object = None


def cell_writer(ws, *, skip_empty: bool = False):
    """The safe cell writer of one worksheet: ``put(row, col, value, style)`` (see the module docstring).

    None and "" give an empty cell that still carries the column's format (borders print as a
    complete grid) — or, with ``skip_empty``, no cell at all: the caller then draws the grid of the
    empty cells otherwise (`builders.RegisterWorkbook` does it with one conditional format, since
    writing the ~17 % empty cells of a register cost ~20 % of its export). The worksheet's undecorated writers are bound once per sheet: the public
    ``write_*`` methods only add A1-notation parsing, which costs ~10 % of an export of 100,000
    rows (docs/PERFORMANCE.md, "Excel exports").
    """
    w_string = getattr(ws, "_write_string", ws.write_string)
    w_number = getattr(ws, "_write_number", ws.write_number)
    w_blank = getattr(ws, "_write_blank", ws.write_blank)
    w_datetime = getattr(ws, "_write_datetime", ws.write_datetime)
    illegal = _ILLEGAL.search
    half = MAX_CELL_CHARS // 2

    def put(row: int, col: int, value, style: CellStyle) -> None:
        if value is None or value == "":
            if not skip_empty:
                w_blank(row, col, None, style.normal)
            return
        kind = type(value)
        if kind is str:
            text = clean_text(value) if len(value) > half or illegal(value) else value
            w_string(row, col, text, style.quoted if text[0] in FORMULA_TRIGGERS else style.normal)
        elif kind is int:
            if -MAX_EXACT_INT < value < MAX_EXACT_INT:
                w_number(row, col, value, style.normal)
            else:
                w_string(row, col, str(value), style.normal)
        elif kind is datetime:
            w_datetime(row, col, value.replace(tzinfo=None) if value.tzinfo else value, style.normal)
        elif kind is float or kind is Decimal:
            number = float(value)
            if math.isfinite(number):
                w_number(row, col, number, style.normal)
            else:
                w_string(row, col, str(value), style.normal)
        elif kind is bool:  # columns turn booleans into words; a stray one is text, never TRUE()
            w_string(row, col, "TRUE" if value else "FALSE", style.normal)
        elif isinstance(value, datetime):
            w_datetime(row, col, value.replace(tzinfo=None), style.normal)
        elif isinstance(value, date):
            w_datetime(row, col, datetime.combine(value, time.min), style.normal)
        elif isinstance(value, int):  # int subclasses (IntEnum …) as numbers
            put(row, col, int(value), style)
        else:
            put(row, col, str(value), style)

    return put


def write_cell(ws, row: int, col: int, value, style: CellStyle) -> None:
    """Write one value safely: `cell_writer(ws)` for a single cell."""
    cell_writer(ws)(row, col, value, style)


def excel_unescape(text: str) -> str:
    """Decode OOXML ``_xHHHH_`` escapes as Excel does (``_x005F_x0041_`` is the text ``_x0041_``)."""
    if "_x" not in text:
        return text
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)


def header_footer_text(text: str, limit: int = 80) -> str:
    """Text placed in a page header or footer: '&' doubled (it starts a code), length-limited."""
    text = clean_text(str(text)).replace("\r", " ").replace("\n", " ")[:limit]
    return text.replace("&", "&&")


# ---------------------------------------------------------------- hostile uploads

class UploadRefused(DomainError):
    """An uploaded file was refused before anything was read into the database."""

    code = "validation_error"
    status = 422
    message = _l("The file was refused.")


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_uncompressed: int = 100 * 1024 * 1024
    max_ratio: int = 100
    max_members: int = 2000
    # Each imported row of a per-row register costs ~10 ms of CPU (form, service, audit event, savepoint):
    # 2,000 rows stay within a sync worker's 30 s, twice (preview, then confirm). The item registers import
    # in bulk at ~0.6 ms per row and allow IMPORT_MAX_ROWS_BULK (20,000; imports.BULK_MAX_ROWS).
    # Larger files: `flask import` (CLI_ROWS).
    max_rows: int = 2_000


CLI_MAX_ROWS = 50_000


def refuse(message, *, status: int = 422, code: str = "validation_error") -> UploadRefused:
    return UploadRefused(message, code=code, status=status, details={"file": [str(message)]})


def inspect_xlsx(path: str, size: int, limits: UploadLimits) -> None:
    """Refuse a file that is too large, not an xlsx package, a zip bomb, or carries XML entity
    declarations, BEFORE openpyxl opens it. Raises UploadRefused with a clear message."""
    if size > limits.max_bytes:
        raise refuse(_l("The file is larger than %(mb)d MB.", mb=limits.max_bytes // (1024 * 1024)),
                     status=413, code="too_large")
    if size == 0 or not zipfile.is_zipfile(path):
        raise refuse(_l("The file is not an Excel workbook (.xlsx). Save it as \"Excel Workbook (*.xlsx)\" "
                        "and upload it again."))
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_members:
                raise refuse(_l("The workbook has too many parts."))
            names = {i.filename for i in infos}
            if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
                raise refuse(_l("The file is not an Excel workbook (.xlsx). Save it as \"Excel Workbook (*.xlsx)\" "
                                "and upload it again."))
            total = 0
            for info in infos:
                total += info.file_size
                if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                    raise refuse(_l("The workbook is compressed suspiciously well (a \"zip bomb\"); it was refused."))
                if info.flag_bits & 0x1:
                    raise refuse(_l("Encrypted workbooks are not accepted."))
            if total > limits.max_uncompressed:
                raise refuse(_l("The workbook expands to more than %(mb)d MB; it was refused.",
                                mb=limits.max_uncompressed // (1024 * 1024)), status=413, code="too_large")
            for info in infos:
                if info.filename.endswith((".xml", ".rels", ".vml")):
                    with zf.open(info) as fh:
                        head = fh.read(256 * 1024)
                    probe = head.replace(b"\x00", b"").upper()
                    if b"<!DOCTYPE" in probe or b"<!ENTITY" in probe:
                        raise refuse(_l("The workbook contains XML entity declarations, which are not accepted."))
    except zipfile.BadZipFile:
        raise refuse(_l("The file is damaged or not an Excel workbook (.xlsx).")) from None
