"""Every register exports as a printable, formatted, formula-safe workbook in both languages."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from registry.core.audit import AuditEvent
from registry.exports import registers as regs
from registry.extensions import db
from tests.exports.conftest import (PAYLOADS, XLSX, assert_no_formulas, assert_register_format, data_rows, headers,
                                    workbook)

AVAILABLE = [r.name for r in regs.available()]


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_every_register_is_a_formatted_formula_safe_workbook(seeded, as_role, app, lang):
    c = as_role("officer")
    for name in AVAILABLE:
        resp = c.get(f"/registers/{name}.xlsx?lang={lang}")
        assert resp.status_code == 200, (name, resp.data[:300])
        assert resp.mimetype == XLSX
        assert resp.headers["Cache-Control"] == "no-store"
        disposition = resp.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and f"filename={name}-" in disposition
        assert_no_formulas(resp.data)
        wb = workbook(resp.data)
        assert len(wb.worksheets) == 1
        ws = wb.worksheets[0]
        register = regs.get(name)
        hr = assert_register_format(ws, ncols=len(register.columns))
        assert headers(ws, hr) == [col.header(lang) for col in register.columns]
        assert ws.cell(2, 1).value == register.title(lang)
        assert ws.cell(1, 1).value == "示例研究所"


def test_markings_follow_the_highest_level_in_the_rows(seeded, as_role):
    c = as_role("officer")
    cases = {("rooms", "zh_CN"): "机密★", ("rooms", "en"): "SECRET", ("people", "zh_CN"): "内部",
             ("checkouts", "zh_CN"): "秘密★", ("checkouts", "en"): "CONFIDENTIAL", ("equipment", "zh_CN"): "内部",
             ("computers", "zh_CN"): "机密★"}
    for (name, lang), marking in cases.items():
        ws = workbook(c.get(f"/registers/{name}.xlsx?lang={lang}").data).worksheets[0]
        assert_register_format(ws, marking=marking)
        assert any(marking in (ws.cell(r, 1).value or "") for r in range(1, 7)), (name, marking)


def test_hostile_text_is_exported_byte_for_byte_as_text(seeded, as_role):
    c = as_role("officer")
    ws = workbook(c.get("/registers/people.xlsx").data).worksheets[0]
    hr = assert_register_format(ws)
    cells = {ws.cell(r, 2).value: [ws.cell(r, k) for k in range(1, ws.max_column + 1)]
             for r in range(hr + 1, ws.max_row + 1)}
    row = cells["E002"]
    by_header = {ws.cell(hr, k + 1).value: cell for k, cell in enumerate(row)}
    assert by_header["姓名"].value == PAYLOADS[0] and by_header["姓名"].quotePrefix
    assert by_header["所属部门"].value == PAYLOADS[2] and by_header["所属部门"].quotePrefix
    assert by_header["岗位"].value == PAYLOADS[3] and by_header["岗位"].quotePrefix
    assert by_header["联系方式"].value == PAYLOADS[4] and by_header["联系方式"].data_type == "s"
    assert by_header["备注"].value == "\t=1+1 \ufffd bell"  # the stored BEL replaced, the rest intact
    assert by_header["保密承诺书签订日期"].is_date and by_header["保密承诺书签订日期"].number_format == "yyyy-mm-dd"
    ws = workbook(c.get("/registers/checkouts.xlsx").data).worksheets[0]
    hr = assert_register_format(ws)
    values = [ws.cell(hr + 1, k).value for k in range(1, ws.max_column + 1)]
    assert "=cmd|' /C calc'!A0" in values
    out_at = ws.cell(hr + 1, [h for h in headers(ws, hr)].index("借出时间") + 1)
    assert out_at.is_date and out_at.number_format == "yyyy-mm-dd hh:mm"


def test_every_export_is_audited_with_the_files_hash(seeded, as_role, app):
    c = as_role("inspector")
    resp = c.get("/registers/people.xlsx?from=2000-01-01&to=2099-12-31&lang=en")
    assert resp.status_code == 200
    digest = hashlib.sha256(resp.data).hexdigest()
    assert resp.headers["X-Export-SHA256"] == digest
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "export.people")).one()
        assert event.actor == c.username and event.via == "web"
        assert event.data["sha256"] == digest
        assert event.data["rows"] == 5
        assert event.data["filters"] == {"from": "2000-01-01", "to": "2099-12-31", "lang": "en"}
        # the checkpoint printed on the file is the head before the export's own event
        assert event.data["checkpoint"] == f"{event.seq - 1}:{event.prev_hash}"
    ws = workbook(resp.data).worksheets[0]
    assert any(event.data["checkpoint"] in (ws.cell(r, 1).value or "") for r in range(1, 7))


def test_period_filter(seeded, as_role):
    c = as_role("officer")
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    ws = workbook(c.get(f"/registers/checkouts.xlsx?from={tomorrow}").data).worksheets[0]
    hr = assert_register_format(ws)
    assert data_rows(ws, hr) == []
    assert tomorrow in ws.cell(3, 1).value
    ws = workbook(c.get(f"/registers/checkouts.xlsx?to={tomorrow}").data).worksheets[0]
    assert len(data_rows(ws, assert_register_format(ws))) == 2


def test_bad_arguments_are_refused(seeded, api):
    client = api("officer")
    assert client.get("/api/v1/exports/people.xlsx?from=yesterday").status_code == 422
    assert client.get("/api/v1/exports/people.xlsx?lang=fr").status_code == 422
    assert client.get("/api/v1/exports/people.xlsx?from=2026-02-01&to=2026-01-01").status_code == 422
    assert client.get("/api/v1/exports/nonsense.xlsx").status_code == 404
    assert client.get("/api/v1/exports/..%2Fx%0D%0ASet-Cookie:a=b.xlsx").status_code == 404


def test_api_export_with_bearer_token(seeded, api):
    resp = api("inspector").get("/api/v1/exports/rooms.xlsx?lang=en")
    assert resp.status_code == 200 and resp.mimetype == XLSX
    ws = workbook(resp.data).worksheets[0]
    assert len(data_rows(ws, assert_register_format(ws, marking="SECRET"))) == 2


def test_document_numbers_masked_for_inspectors(seeded, as_role):
    if "visitors" not in AVAILABLE:
        pytest.skip("visits domain not installed")
    for role, expected in (("officer", "P12345678"), ("admin", "P12345678"), ("inspector", "****5678")):
        ws = workbook(as_role(role).get("/registers/visitors.xlsx").data).worksheets[0]
        hr = assert_register_format(ws)
        col = headers(ws, hr).index("证件号码") + 1
        numbers = {ws.cell(r, col).value for r in range(hr + 1, ws.max_row + 1)}
        assert expected in numbers, (role, numbers)
        if role == "inspector":
            assert not any("12345678" in (n or "") or "199001011234" in (n or "") for n in numbers)


@pytest.mark.parametrize("role", ["staff", "guard", "approver"])
def test_other_roles_may_not_export(seeded, as_role, api, role):
    page = as_role(role)
    client = api(role)
    for url in ("/registers/", "/registers/people.xlsx", "/registers/inspection-pack.xlsx"):
        assert page.get(url).status_code == 403, url
    for url in ("/api/v1/exports/people.xlsx", "/api/v1/exports/inspection-pack.xlsx"):
        assert client.get(url).status_code == 403, url


def test_anonymous_is_refused(client):
    assert client.get("/api/v1/exports/people.xlsx").status_code == 401
    assert client.get("/registers/people.xlsx").status_code == 302


def test_registers_page_lists_what_the_role_may_export(seeded, as_role):
    c = as_role("inspector")
    html = c.get("/registers/?lang=en&from=2026-01-01").get_data(as_text=True)
    assert "/registers/people.xlsx?" in html and "lang=en" in html
    assert "/registers/inspection-pack.xlsx" in html
    assert "/registers/import/" not in html  # inspectors do not import
    officer = as_role("officer").get("/registers/").get_data(as_text=True)
    assert "/registers/import/people" in officer
    assert "<script>" not in officer and "style=" not in officer


def test_governance_registers(seeded, as_role):
    c = as_role("officer")
    if "destructions" in AVAILABLE:
        ws = workbook(c.get("/registers/destructions.xlsx").data).worksheets[0]
        hr = assert_register_format(ws, marking="内部")
        rows = data_rows(ws, hr)
        assert len(rows) == 1
        row = dict(zip(headers(ws, hr), rows[0]))
        assert row["登记编号"].startswith("SB-") and row["销毁方式"] == "粉碎" and row["数量"] == 1
        assert row["监销人"].count("、") == 1 and row["销毁地点"] == "销毁中心"
    if "inventories" in AVAILABLE:
        ws = workbook(c.get("/registers/inventories.xlsx?lang=en").data).worksheets[0]
        hr = assert_register_format(ws)
        row = dict(zip(headers(ws, hr), data_rows(ws, hr)[0]))
        assert row["Scope"] == "R-101" and row["Closed at"] is not None
        assert row["Expected"] >= 1 and row["Started by"]
    if "provisions" in AVAILABLE:
        ws = workbook(c.get("/registers/provisions.xlsx").data).worksheets[0]
        hr = assert_register_format(ws, marking="内部")
        rows = data_rows(ws, hr)
        row = dict(zip(headers(ws, hr), rows[0]))
        assert row["资料名称"] == "@技术说明书（公开版）" and row["合作项目"] == "=联合研究项目"
        assert row["状态"] in ("已申请", "已批准")
    if "projects" in AVAILABLE:
        ws = workbook(c.get("/registers/projects.xlsx").data).worksheets[0]
        hr = assert_register_format(ws)
        row = dict(zip(headers(ws, hr), data_rows(ws, hr)[0]))
        assert row["保密审查"] == "通过" and row["审查人"] == "张三"


def test_head_request_does_not_leak_the_file(seeded, as_role, app):
    c = as_role("officer")
    resp = c.head("/registers/rooms.xlsx")
    assert resp.status_code == 200 and resp.mimetype == XLSX and int(resp.headers["Content-Length"]) > 1000
    resp.close()
    tmp = jobs_tmp(app)
    assert not tmp.exists() or not list(tmp.iterdir())


def jobs_tmp(app):
    from registry.exports.jobs import export_dir

    with app.app_context():
        return export_dir() / "tmp"
