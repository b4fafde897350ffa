"""A register longer than an Excel sheet continues on further sheets with the same layout."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from registry.core.audit import AuditEvent
from registry.extensions import db
from tests.exports.conftest import assert_register_format, data_rows, workbook


@pytest.fixture
def app_config():
    return {"EXPORT_MAX_ROWS_PER_SHEET": 12}


def test_long_registers_continue_on_further_sheets(seeded, as_role, app):
    c = as_role("officer")
    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count(AuditEvent.seq)))
    wb = workbook(c.get("/registers/audit.xlsx").data)
    per_sheet = 12 - 7  # rows per sheet minus the title block and header
    assert len(wb.worksheets) == -(-total // per_sheet)
    seqs = []
    for i, ws in enumerate(wb.worksheets):
        hr = assert_register_format(ws)
        assert ws.max_row <= 12
        rows = data_rows(ws, hr)
        seqs += [r[1] for r in rows]
        if i:
            assert ws.title.endswith(f"({i + 1})")
    assert seqs == list(range(1, total + 1))
