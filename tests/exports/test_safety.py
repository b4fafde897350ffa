"""Formula-injection safety of every cell (SECURITY-RESEARCH §3, §7 items 29-30; SPEC §8)."""

from __future__ import annotations

import io
import math
import re
import zipfile

import openpyxl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.exports.builders import SheetSpec, build_register
from registry.exports.safety import (FORMULA_TRIGGERS, MAX_CELL_CHARS, REPLACEMENT, WORKBOOK_OPTIONS, clean_text,
                                     excel_unescape, header_footer_text)
from tests.exports.conftest import PAYLOADS

TITLE = ["unit", "register", "period", "exported", "checkpoint 1:" + "0" * 64, "marking"]
HR = len(TITLE) + 1  # 1-based header row


def build(values: list, kinds: list[str] | None = None) -> bytes:
    """One row per value, in one column (or one column per kind when kinds are given)."""
    buf = io.BytesIO()
    kinds = kinds or ["text"]
    spec = SheetSpec(name="T", headers=[f"h{i}" for i in range(len(kinds))], kinds=kinds,
                     widths=[10] * len(kinds), title_lines=TITLE, page_marking="内部")
    rows = [v if isinstance(v, list) else [v] for v in values]
    build_register(buf, spec, rows)
    return buf.getvalue()


def sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.read("xl/worksheets/sheet1.xml").decode("utf-8")


def read_back(data: bytes) -> list:
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [ws.cell(HR + 1 + i, 1) for i in range(ws.max_row - HR)]


def expected(text: str):
    cleaned = clean_text(text)
    return cleaned if cleaned != "" else None


def test_workbook_never_converts_strings():
    assert WORKBOOK_OPTIONS["strings_to_formulas"] is False
    assert WORKBOOK_OPTIONS["strings_to_urls"] is False
    assert WORKBOOK_OPTIONS["constant_memory"] is True


def test_payloads_stay_text_byte_for_byte_with_quote_prefix():
    data = build(PAYLOADS)
    xml = sheet_xml(data)
    assert "<f>" not in xml and "<f " not in xml and 't="e"' not in xml
    assert "<hyperlink" not in xml
    cells = read_back(data)
    assert [excel_unescape(c.value) for c in cells] == PAYLOADS
    for cell, text in zip(cells, PAYLOADS):
        assert cell.data_type == "s"
        assert cell.quotePrefix == (text[0] in FORMULA_TRIGGERS), text
    assert not any(c.quotePrefix for c in read_back(build(["#REF!", "plain", "1+1"])))


def test_numbers_stay_numbers_and_negatives_intact():
    values = [-2, -2.5, 0, 3.25, 10**14, -(10**14)]
    data = build([[v] for v in values], ["number"])
    xml = sheet_xml(data)
    assert "<f>" not in xml
    cells = read_back(data)
    assert [c.value for c in cells] == values
    assert all(c.data_type == "n" for c in cells)
    assert re.search(r'<c r="A8"[^>]*><v>-2</v></c>', xml), "numeric cell, t defaults to n"


def test_huge_integers_and_non_finite_floats_become_text():
    cells = read_back(build([[10**16], [float("nan")], [float("inf")]], ["number"]))
    assert [c.value for c in cells] == [str(10**16), "nan", "inf"]


def test_control_characters_replaced_instead_of_crashing():
    values = ["bell\x07", "esc\x1b[31m", "nul\x00", "ok\ttab", "cr\rlf\n", "\ufffe\uffff"]
    cells = read_back(build(values))
    assert [excel_unescape(c.value) for c in cells] == [
        "bell" + REPLACEMENT, "esc" + REPLACEMENT + "[31m", "nul" + REPLACEMENT, "ok\ttab", "cr\rlf\n",
        REPLACEMENT * 2]


def test_long_strings_are_cut_at_excels_limit():
    cells = read_back(build(["x" * 40000, "😀" * 20000]))
    assert len(cells[0].value) == MAX_CELL_CHARS
    assert len(cells[1].value.encode("utf-16-le")) // 2 <= MAX_CELL_CHARS


def test_literal_escape_sequences_survive():
    values = ["_x0041_", "a_x000D_b", "_x005F_"]
    assert [excel_unescape(c.value) for c in read_back(build(values))] == values


def test_header_footer_text_escapes_ampersand():
    assert header_footer_text("R&D &P") == "R&&D &&P"


TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(max_codepoint=0x7F)),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x20)),
    st.text(alphabet=st.one_of(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
                               st.sampled_from(["\ufffe", "\uffff", "a", "\x85", "\u2028"]))),
    st.builds(lambda t, s: t + s, st.sampled_from(sorted(FORMULA_TRIGGERS) + ["#", "_x0041_", "'"]), st.text()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXT, min_size=1, max_size=25))
def test_any_text_round_trips_and_is_never_a_formula(values):
    data = build(values)
    xml = sheet_xml(data)
    assert "<f>" not in xml and "<f " not in xml and 't="e"' not in xml
    cells = read_back(data)
    got = [excel_unescape(c.value) if isinstance(c.value, str) else c.value for c in cells]
    got += [None] * (len(values) - len(got))
    assert got == [expected(v) for v in values]
    for cell, value in zip(cells, values):
        assert cell.data_type not in ("f", "e")
        text = expected(value)
        if text:
            assert cell.data_type == "s"
            assert bool(cell.quotePrefix) == (text[0] in FORMULA_TRIGGERS)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.integers(min_value=-(10**14), max_value=10**14),
                          st.floats(allow_nan=False, allow_infinity=False, width=32)), min_size=1, max_size=20))
def test_any_number_round_trips_as_a_number(values):
    cells = read_back(build([[v] for v in values], ["number"]))
    assert len(cells) == len(values)
    for cell, value in zip(cells, values):
        assert cell.data_type == "n"
        assert math.isclose(cell.value, value, rel_tol=1e-15, abs_tol=0), (cell.value, value)


def test_empty_cells_are_not_written_and_a_conditional_format_draws_their_grid():
    data = build([["a", None, 1], [None, "", "x"], ["b", "c", None]], kinds=["text", "text", "text"])
    xml = sheet_xml(data)
    first, last = HR + 1, HR + 3
    # only the six non-empty cells of the data rows are written
    cells = re.findall(r'<c r="([A-Z]+)(\d+)"', xml)
    assert sorted((c, int(r)) for c, r in cells if int(r) > HR) == sorted(
        [("A", first), ("C", first), ("C", first + 1), ("A", last), ("B", last)])
    wb = openpyxl.load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    rules = [(str(cf.sqref), rule) for cf in ws.conditional_formatting for rule in cf.rules]
    assert len(rules) == 1
    sqref, rule = rules[0]
    assert sqref == f"A{first}:C{last}" and rule.type == "containsBlanks"
    border = rule.dxf.border
    assert {border.left.style, border.right.style, border.top.style, border.bottom.style} == {"thin"}
    # the written cells keep their own border
    assert ws.cell(first, 1).border.left.style == "thin"


def test_an_empty_register_has_no_grid_rule():
    wb = openpyxl.load_workbook(io.BytesIO(build([])))
    assert not list(wb.worksheets[0].conditional_formatting)
