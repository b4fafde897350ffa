"""Pure workbook builders: (title block, columns, rows) -> an .xlsx file (STYLE.md convention 12).

Nothing here touches the database, the request or the clock: the caller passes the title
lines, the headers and an iterator of rows whose values are already in the export's
language. Workbooks are written with xlsxwriter in constant_memory mode (PERF-BASELINES §1:
rows are streamed to disk as they are written, memory stays flat) and every cell goes
through `safety.cell_writer` (formula-injection safety); empty cells are not written, a
conditional format draws their borders.

Each register sheet is a printable register (SPEC §8): a title block (unit, register,
period, exported at/by, audit checkpoint, marking), a bold filled header row, frozen panes
below it, an auto-filter over it, column widths, date/time formats, the marking in the page
header and footer, page numbers (&P / &N), landscape A4 fitted to one page wide, and the
header row repeated on every printed page. A register longer than an Excel sheet continues
on further sheets with the same layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import xlsxwriter

from registry.exports.columns import KINDS
from registry.exports.safety import WORKBOOK_OPTIONS, CellStyle, cell_writer, clean_text, header_footer_text, write_cell

EXCEL_MAX_ROWS = 1_048_576
PROGRESS_EVERY = 2000
HEADER_FILL = "#D9E1F2"
PAPER_A4 = 9


@dataclass
class SheetSpec:
    """One register table. `page_marking` may be a callable evaluated after the rows were
    written (the highest level seen while streaming)."""

    name: str
    headers: Sequence[str]
    kinds: Sequence[str]
    widths: Sequence[float]
    title_lines: Sequence[str]
    page_left: str = ""
    page_right: str = ""
    page_marking: str | Callable[[], str] = ""
    footer_right: str = ""
    page_label: str = "&P / &N"           # footer centre: page codes, not escaped
    wraps: Sequence[bool] = field(default_factory=tuple)
    choices: dict[int, Sequence[str]] = field(default_factory=dict)  # column -> drop-down list (templates)
    choice_rows: int = 2000


_SHEET_BAD = re.compile(r"[\[\]:*?/\\']")


def sheet_name(base: str, part: int = 1, taken: set[str] | None = None) -> str:
    """A valid, unique Excel sheet name (≤ 31 chars, no []:*?/\\ or quotes)."""
    base = _SHEET_BAD.sub("_", clean_text(base)).strip() or "Sheet"
    suffix = f" ({part})" if part > 1 else ""
    name = base[: 31 - len(suffix)] + suffix
    n = 2
    while taken is not None and name.lower() in {t.lower() for t in taken}:
        extra = f" ~{n}"
        name = base[: 31 - len(suffix) - len(extra)] + suffix + extra
        n += 1
    if taken is not None:
        taken.add(name)
    return name


class RegisterWorkbook:
    """A workbook of register sheets, written in constant memory to `target` (a path)."""

    def __init__(self, target, *, max_rows_per_sheet: int | None = None):
        self.wb = xlsxwriter.Workbook(target, dict(WORKBOOK_OPTIONS))
        self.max_rows = min(max_rows_per_sheet or EXCEL_MAX_ROWS, EXCEL_MAX_ROWS)
        self._styles: dict = {}
        self._names: set[str] = set()
        self.f_unit = self.wb.add_format({"bold": True, "font_size": 14})
        self.f_title = self.wb.add_format({"bold": True, "font_size": 12})
        self.f_meta = self.wb.add_format({"font_size": 10, "font_color": "#333333"})
        self.f_header = self.wb.add_format({"bold": True, "bg_color": HEADER_FILL, "pattern": 1, "border": 1,
                                            "text_wrap": True, "align": "center", "valign": "vcenter"})
        # The grid of a register's empty cells: one conditional format over the data rows instead of a
        # bordered blank cell each (docs/PERFORMANCE.md, "Excel exports"); it prints like a cell border.
        self.f_grid = self.wb.add_format({"border": 1})
        self.wb.set_properties({"comments": "Registry export"})

    # -- formats
    def style(self, kind: str, wrap: bool = False) -> CellStyle:
        key = (kind, wrap)
        if key not in self._styles:
            num_format, align = KINDS.get(kind, KINDS["text"])
            props = {"num_format": num_format, "border": 1, "valign": "top"}
            if align:
                props["align"] = align
            if wrap:
                props["text_wrap"] = True
            quoted = dict(props, quote_prefix=True)
            self._styles[key] = CellStyle(self.wb.add_format(props), self.wb.add_format(quoted))
        return self._styles[key]

    # -- sheets
    def reserve_sheet(self, name: str):
        """Add an (empty) sheet now so that it comes first; fill it later with `write_table`."""
        return self.wb.add_worksheet(sheet_name(name, taken=self._names))

    def write_register(self, spec: SheetSpec, rows: Iterable[Sequence], *,
                       progress: Callable[[int], None] | None = None, worksheet=None) -> int:
        """Write the rows as one register (continuing on further sheets); returns the row count."""
        styles = [self.style(k, (spec.wraps[i] if i < len(spec.wraps) else False))
                  for i, k in enumerate(spec.kinds)]
        sheets = []
        ws = worksheet or self.wb.add_worksheet(sheet_name(spec.name, taken=self._names))
        header_row = self._start_sheet(ws, spec)
        sheets.append((ws, header_row))
        put = cell_writer(ws, skip_empty=True)
        per_sheet = self.max_rows - header_row - 1
        r = header_row
        in_sheet = 0
        total = 0
        part = 1
        ncols = len(spec.headers)
        for values in rows:
            if in_sheet == per_sheet:
                self._finish_sheet(ws, spec, header_row, r, ncols)
                part += 1
                ws = self.wb.add_worksheet(sheet_name(spec.name, part, taken=self._names))
                header_row = self._start_sheet(ws, spec)
                sheets.append((ws, header_row))
                put = cell_writer(ws, skip_empty=True)
                r = header_row
                in_sheet = 0
            r += 1
            in_sheet += 1
            for c, value in enumerate(values):
                put(r, c, value, styles[c])
            total += 1
            if progress is not None and total % PROGRESS_EVERY == 0:
                progress(total)
        self._finish_sheet(ws, spec, header_row, r, ncols)
        marking = spec.page_marking() if callable(spec.page_marking) else spec.page_marking
        for sheet, _hr in sheets:
            self._page_setup(sheet, spec, marking)
        if progress is not None:
            progress(total)
        return total

    def _start_sheet(self, ws, spec: SheetSpec) -> int:
        for i, width in enumerate(spec.widths):
            ws.set_column(i, i, width)
        for i, line in enumerate(spec.title_lines):
            fmt = self.f_unit if i == 0 else self.f_title if i == 1 else self.f_meta
            write_cell(ws, i, 0, line, CellStyle(fmt, fmt))
        header_row = len(spec.title_lines)
        ws.set_row(header_row, 30)
        header_style = CellStyle(self.f_header, self.f_header)
        for c, text in enumerate(spec.headers):
            write_cell(ws, header_row, c, text, header_style)
        ws.freeze_panes(header_row + 1, 0)
        ws.repeat_rows(header_row)
        for c, options in spec.choices.items():
            if options and len(",".join(options)) <= 255:  # Excel's limit for an inline list
                ws.data_validation(header_row + 1, c, header_row + spec.choice_rows, c,
                                   {"validate": "list", "source": list(options), "ignore_blank": True,
                                    "error_type": "warning"})
        return header_row

    def _finish_sheet(self, ws, spec: SheetSpec, header_row: int, last_row: int, ncols: int) -> None:
        ws.autofilter(header_row, 0, max(last_row, header_row), max(ncols - 1, 0))
        if last_row > header_row and ncols:
            ws.conditional_format(header_row + 1, 0, last_row, ncols - 1, {"type": "blanks", "format": self.f_grid})

    def _page_setup(self, ws, spec: SheetSpec, marking: str) -> None:
        ws.set_landscape()
        ws.set_paper(PAPER_A4)
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.4, right=0.4, top=0.75, bottom=0.75)
        ws.center_horizontally()
        mark = header_footer_text(marking, 20)
        left = header_footer_text(spec.page_left, 70)
        right = header_footer_text(spec.page_right, 70)
        ws.set_header(f'&L{left}&C&"-,Bold"&14{mark}&R{right}')
        pages = spec.page_label
        foot_right = header_footer_text(spec.footer_right, 70)
        ws.set_footer(f"&L{mark}&C{pages}&R{foot_right}")

    def write_table(self, ws, title_lines: Sequence[str], headers: Sequence[str], kinds: Sequence[str],
                    widths: Sequence[float], rows: Iterable[Sequence], *, marking: str = "",
                    page_left: str = "", page_right: str = "", page_label: str = "&P / &N") -> int:
        """Write a small table (the pack's cover) into a reserved sheet, with the same print setup."""
        spec = SheetSpec(name=ws.name, headers=headers, kinds=kinds, widths=widths, title_lines=title_lines,
                         page_left=page_left, page_right=page_right, page_marking=marking, page_label=page_label,
                         wraps=tuple(k == "text" for k in kinds))
        return self.write_register(spec, rows, worksheet=ws)

    def close(self) -> None:
        self.wb.close()


def build_register(target, spec: SheetSpec, rows: Iterable[Sequence], *, max_rows_per_sheet: int | None = None,
                   progress: Callable[[int], None] | None = None) -> int:
    """One register in one workbook; returns the number of data rows written."""
    book = RegisterWorkbook(target, max_rows_per_sheet=max_rows_per_sheet)
    try:
        return book.write_register(spec, rows, progress=progress)
    finally:
        book.close()
