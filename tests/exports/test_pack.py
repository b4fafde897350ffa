"""The inspection pack: a cover sheet with the audit head and one sheet per register."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from registry.core.audit import AuditEvent
from registry.exports import registers as regs
from registry.extensions import db
from tests.exports.conftest import assert_no_formulas, assert_register_format, data_rows, headers, workbook


def test_inspection_pack(seeded, as_role, app):
    c = as_role("inspector")
    with app.app_context():
        head = db.session.execute(sa.select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc())
                                  .limit(1)).one()
    resp = c.get("/registers/inspection-pack.xlsx")
    assert resp.status_code == 200
    assert_no_formulas(resp.data)
    wb = workbook(resp.data)
    registers = regs.available()
    assert wb.sheetnames == ["封面"] + [r.zh for r in registers]
    cover = wb["封面"]
    hr = assert_register_format(cover, marking="机密★")
    text = "\n".join(str(cover.cell(r, 1).value) for r in range(1, hr))
    assert head.hash in text and f"{head.seq}:{head.hash}" in text
    assert "示例研究所" in text and c.username in text
    cover_rows = {row[2]: row for row in data_rows(cover, hr)}
    assert headers(cover, hr)[:4] == ["序号", "台账", "工作表", "记录数"]
    for register in registers:
        ws = wb[register.zh]
        sheet_hr = assert_register_format(ws)
        assert headers(ws, sheet_hr) == [col.zh for col in register.columns]
        assert cover_rows[register.name][3] == len(data_rows(ws, sheet_hr)), register.name
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "export.inspection-pack")).one()
        assert event.data["sha256"] == hashlib.sha256(resp.data).hexdigest()
        assert event.data["counts"]["people"] == 5
        assert event.seq == head.seq + 1


def test_inspection_pack_in_english_over_the_api(seeded, api):
    resp = api("officer").get("/api/v1/exports/inspection-pack.xlsx?lang=en&from=2020-01-01")
    assert resp.status_code == 200
    wb = workbook(resp.data)
    assert wb.sheetnames[0] == "Cover"
    assert "Register of cleared personnel" in wb.sheetnames
    cover = wb["Cover"]
    assert_register_format(cover, marking="SECRET")
    assert "2020-01-01" in cover.cell(3, 1).value
