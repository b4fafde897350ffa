"""Imports: templates, the export → import round trip, errors by row and column, dry runs, roles,
and hostile files refused with nothing changed."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from werkzeug.test import EnvironBuilder

from registry.core.audit import AuditEvent
from registry.exports import registers as regs
from registry.extensions import db
from tests.conftest import PG_URL, _truncate_pg
from tests.exports.conftest import XLSX, assert_register_format, data_rows, headers, workbook


def upload(client, register, data: bytes, *, dry_run=False, name="file.xlsx"):
    """POST the file as multipart (the test client spools bodies over 500 KB to a temporary file that
    it never closes: build the environ here and close it)."""
    form = {"file": (io.BytesIO(data), name)}
    if dry_run:
        form["dry_run"] = "true"
    builder = EnvironBuilder(path=f"/api/v1/imports/{register}", method="POST", data=form, headers=client.headers)
    environ = builder.get_environ()
    try:
        return client.client.open(environ)
    finally:
        builder.close()
        environ["wsgi.input"].close()


def state(app) -> tuple[int, int, int]:
    """(people, rooms, audit events): what a refused import must leave unchanged."""
    from registry.areas.models import Room
    from registry.people.models import Person

    with app.app_context():
        return (db.session.scalar(sa.select(sa.func.count(Person.id))),
                db.session.scalar(sa.select(sa.func.count(Room.id))),
                db.session.scalar(sa.select(sa.func.count(AuditEvent.seq))))


def sheet(rows: list[list], header_row: list[str], title: list[str] = ("单位", "涉密人员台账")) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    for line in title:
        ws.append([line])
    ws.append(header_row)
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


PEOPLE_HEADER = ["工号", "姓名", "所属部门", "涉密人员类别", "在岗状态", "保密承诺书签订日期"]


def reset_database(app, db_url, template):
    """Empty the database (a fresh schema), as on a new installation."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if PG_URL:
        _truncate_pg(PG_URL)
        return
    path = Path(db_url.removeprefix("sqlite:///"))
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    shutil.copyfile(template, path)


# ---------------------------------------------------------------- templates


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_templates_have_the_exports_headers(api, lang):
    client = api("officer")
    for name in regs.IMPORTABLE:
        register = regs.get(name)
        if register is None:
            continue
        resp = client.get(f"/api/v1/imports/{name}/template.xlsx?lang={lang}")
        assert resp.status_code == 200 and resp.mimetype == XLSX
        ws = workbook(resp.data).worksheets[0]
        hr = [r for r in range(1, 10) if ws.cell(r, 1).value == register.import_columns()[0].header(lang)][0]
        assert headers(ws, hr) == [c.header(lang) for c in register.import_columns()]
        assert ws.freeze_panes == f"A{hr + 1}" and ws.cell(hr, 1).font.b
        export_headers = [c.header(lang) for c in register.columns]
        assert set(headers(ws, hr)) <= set(export_headers)
        lists = {min(r.min_col for r in dv.sqref.ranges): dv.formula1 for dv in ws.data_validations.dataValidation}
        assert lists, "drop-down lists for the choices"
        for i, col in enumerate(register.import_columns(), start=1):
            if col.kind == "enum" and col.labels and i in lists:
                assert next(iter(col.labels.values()))[0 if lang == "zh_CN" else 1] in lists[i]


def test_template_filled_in_imports(api, app):
    client = api("officer")
    data = client.get("/api/v1/imports/people/template.xlsx?lang=en").data
    wb = workbook(data)
    ws = wb.worksheets[0]
    hr = [r for r in range(1, 10) if ws.cell(r, 1).value == "Employee no."][0]
    cols = {c.value: c.column for c in ws[hr] if c.value}
    ws.cell(hr + 1, cols["Employee no."], "N-1")
    ws.cell(hr + 1, cols["Name"], "Wang Wu")
    ws.cell(hr + 1, cols["Secrecy category"], "General cleared staff")
    ws.cell(hr + 1, cols["Status"], "Active")
    buf = io.BytesIO()
    wb.save(buf)
    resp = upload(client, "people", buf.getvalue())
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["created"] == 1
    person = api("officer").get("/api/v1/people?q=N-1").get_json()["items"][0]
    assert person["category"] == "general" and person["nationality"] == "CN"


# ---------------------------------------------------------------- round trip


def comparable(data: bytes, drop: tuple[str, ...] = ()) -> list[list]:
    """The data rows; text compared as the forms store it (they strip surrounding whitespace: the
    seed put a leading TAB below the UI)."""
    ws = workbook(data).worksheets[0]
    hr = assert_register_format(ws)
    names = headers(ws, hr)
    keep = [i for i, h in enumerate(names) if h not in drop]
    return [[row[i].strip() if isinstance(row[i], str) else row[i] for i in keep] for row in data_rows(ws, hr)]


def test_export_reimports_into_an_empty_database(seeded, api, app, make, db_url, _template_db):
    officer = api("officer")
    files = {name: officer.get(f"/api/v1/exports/{name}.xlsx").data
             for name in ("people", "rooms", "assets", "visitors") if regs.get(name)}
    reset_database(app, db_url, _template_db)
    officer = api("officer")
    assert state(app)[:2] == (0, 0)
    for name in ("people", "rooms", "assets", "visitors"):  # references first: people, then rooms, …
        if name not in files:
            continue
        dry = upload(officer, name, files[name], dry_run=True)
        assert dry.status_code == 200, (name, dry.get_json())
        resp = upload(officer, name, files[name])
        assert resp.status_code == 201, (name, resp.get_json())
        assert resp.get_json()["errors"] == []
    again = {name: officer.get(f"/api/v1/exports/{name}.xlsx").data for name in files}
    assert comparable(again["people"]) == comparable(files["people"])
    assert comparable(again["rooms"]) == comparable(files["rooms"])
    # checkouts are not imported: an item checked out before is available in the new register
    assert comparable(again["assets"], drop=("状态",)) == comparable(files["assets"], drop=("状态",))
    if "visitors" in files:
        assert comparable(again["visitors"]) == comparable(files["visitors"])
    with app.app_context():
        actions = set(db.session.scalars(sa.select(AuditEvent.action)))
    assert {"import.people", "import.rooms", "person.create", "room.create"} <= actions


def test_english_export_reimports(seeded, api, app, db_url, _template_db):
    data = api("officer").get("/api/v1/exports/people.xlsx?lang=en").data
    reset_database(app, db_url, _template_db)
    officer = api("officer")
    resp = upload(officer, "people", data)
    assert resp.status_code == 201 and resp.get_json()["created"] == 5


# ---------------------------------------------------------------- validation


def test_errors_by_row_and_column_and_nothing_changes(seeded, api, app):
    client = api("officer")
    before = state(app)
    rows = [
        ["N-1", "好人", "一室", "一般涉密人员", "在岗", "2026-01-01"],      # row 4: valid
        ["N-2", "", "一室", "一般涉密人员", "在岗", ""],                    # row 5: name missing
        ["N-3", "坏类别", "一室", "超级", "在岗", ""],                      # row 6: unknown category
        ["E001", "重复", "一室", "一般涉密人员", "在岗", ""],                # row 7: key exists
        ["N-1", "又一个", "一室", "一般涉密人员", "在岗", ""],               # row 8: twice in the file
        ["N-5", "日期", "一室", "一般涉密人员", "在岗", "明天"],             # row 9: bad date
        ["N-6", "=1+1", "一室", "核心涉密人员", "在岗", ""],                 # row 10: a formula (openpyxl)
    ]
    resp = upload(client, "people", sheet(rows, PEOPLE_HEADER))
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["created"] == 0 and body["error"]["code"] == "validation_error"
    found = {(e["row"], e["field"]) for e in body["errors"]}
    assert {(5, "name"), (6, "category"), (7, "employee_no"), (8, "employee_no"), (9, "commitment_signed_on"),
            (10, "name")} <= found
    assert not any(e["row"] == 4 for e in body["errors"])
    assert all(e["message"] for e in body["errors"])
    assert state(app) == before


def test_references_resolve_by_human_keys(seeded, api, app):
    header = ["部位编号", "部位名称", "密级", "境外人员进入", "负责人工号"]
    rows = [["R-NEW", "新机房", "机密", "禁止境外人员进入", "E001"], ["R-BAD", "错", "秘密", "开放", "NOPE"]]
    resp = upload(api("officer"), "rooms", sheet(rows, header, ("单位", "保密要害部门部位台账")))
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == [{"row": 5, "field": "responsible_id", "column": "负责人工号",
                                          "message": "未知的工号：NOPE"}] or \
        [(e["row"], e["field"]) for e in resp.get_json()["errors"]] == [(5, "responsible_id")]
    resp = upload(api("officer"), "rooms", sheet(rows[:1], header, ("单位", "保密要害部门部位台账")))
    assert resp.status_code == 201
    room = api("officer").get("/api/v1/rooms?q=R-NEW").get_json()["items"][0]
    assert room["level"] == "secret" and room["foreign_policy"] == "forbidden"
    assert room["responsible_id"] == seeded["people"][0]


def test_dry_run_changes_nothing(seeded, api, app):
    client = api("officer")
    before = state(app)
    rows = [["N-1", "甲", "一室", "一般涉密人员", "在岗", ""], ["N-2", "乙", "一室", "非涉密人员", "在岗", ""]]
    resp = upload(client, "people", sheet(rows, PEOPLE_HEADER), dry_run=True)
    assert resp.status_code == 200
    assert resp.get_json() == {"created": 2, "errors": [], "dry_run": True, "rows": 2}
    assert state(app) == before


def test_formula_cells_are_refused(api, app):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(PEOPLE_HEADER)
    ws.append(["N-1", "=A1&A1", "一室", "一般涉密人员", "在岗", None])
    buf = io.BytesIO()
    wb.save(buf)
    resp = upload(api("officer"), "people", buf.getvalue())
    assert resp.status_code == 422
    assert [(e["row"], e["field"]) for e in resp.get_json()["errors"]] == [(2, "name")]


def test_a_file_without_the_registers_header_is_refused(api, app):
    resp = upload(api("officer"), "people", sheet([["x", "y"]], ["foo", "bar"]))
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "validation_error"


# ---------------------------------------------------------------- hostile files


def xlsx_with(member: str, payload: bytes, base: bytes | None = None) -> bytes:
    """A valid workbook with one member replaced."""
    base = base or sheet([["N-1", "甲", "一室", "一般涉密人员", "在岗", ""]], PEOPLE_HEADER)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, payload if info.filename == member else src.read(info.filename))
    return out.getvalue()


BILLION_LAUGHS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>"""


def test_billion_laughs_is_refused(api, app):
    client = api("officer")
    before = state(app)
    data = xlsx_with("xl/worksheets/sheet1.xml", BILLION_LAUGHS)
    resp = upload(client, "people", data)
    assert resp.status_code == 422
    assert "entity" in resp.get_json()["error"]["message"].lower() or "实体" in resp.get_json()["error"]["message"]
    assert state(app) == before


def test_defusedxml_guards_openpyxl_even_without_the_prescan(tmp_path):
    from registry.exports import imports  # noqa: F401  (asserts defusedxml at import time)

    assert openpyxl.DEFUSEDXML is True
    path = tmp_path / "lol.xlsx"
    path.write_bytes(xlsx_with("xl/worksheets/sheet1.xml", BILLION_LAUGHS))
    with open(path, "rb") as fh, pytest.raises(Exception) as info:
        wb = openpyxl.load_workbook(fh, read_only=True)
        list(wb.worksheets[0].iter_rows(values_only=True))
    chain, exc = [], info.value
    while exc is not None:
        chain.append(type(exc).__name__)
        exc = exc.__cause__ or exc.__context__
    assert any("Entities" in name or "DTD" in name for name in chain), chain


def zip_bomb(uncompressed_mb: int) -> bytes:
    base = sheet([["N-1", "甲", "一室", "一般涉密人员", "在岗", ""]], PEOPLE_HEADER)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info.filename, src.read(info.filename))
        with dst.open("xl/worksheets/sheet1.xml", "w") as fh:
            fh.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                     b'2006/main"><sheetData>')
            block = b" " * (1024 * 1024)
            for _ in range(uncompressed_mb):
                fh.write(block)
            fh.write(b"</sheetData></worksheet>")
    return out.getvalue()


def test_zip_bomb_is_refused_before_opening(api, app, monkeypatch):
    import openpyxl as opx

    opened = []
    monkeypatch.setattr(opx, "load_workbook", lambda *a, **k: opened.append(a) or None)
    client = api("officer")
    before = state(app)
    data = zip_bomb(120)
    assert len(data) < 1024 * 1024  # 120 MB inside, a fraction of a megabyte on the wire
    resp = upload(client, "people", data)
    assert resp.status_code in (413, 422)
    assert "bomb" in resp.get_json()["error"]["message"] or "120" not in resp.get_json()["error"]["message"]
    assert opened == []
    assert state(app) == before


def test_upload_over_the_request_limit_is_413(api, app):
    client = api("officer")
    before = state(app)
    resp = upload(client, "people", os.urandom(20 * 1024 * 1024))
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "too_large"
    assert state(app) == before


def test_upload_over_the_import_limit_is_413(api, app):
    client = api("officer")
    before = state(app)
    resp = upload(client, "people", b"PK" + os.urandom(11 * 1024 * 1024))
    assert resp.status_code == 413 and resp.get_json()["error"]["code"] == "too_large"
    assert state(app) == before


def test_a_text_file_renamed_xlsx_is_refused(api, app):
    client = api("officer")
    before = state(app)
    resp = upload(client, "people", "工号,姓名\nN-1,甲\n".encode(), name="people.xlsx")
    assert resp.status_code == 422
    message = resp.get_json()["error"]["message"]
    assert ".xlsx" in message
    assert state(app) == before


def test_a_damaged_workbook_is_refused(api, app):
    client = api("officer")
    before = state(app)
    data = xlsx_with("xl/workbook.xml", b"<not-xml")
    resp = upload(client, "people", data)
    assert resp.status_code == 422
    assert state(app) == before


class TestRowLimit:
    @pytest.fixture
    def app_config(self):
        return {"IMPORT_MAX_ROWS": 5}

    def test_too_many_rows_are_refused(self, api, app):
        client = api("officer")
        before = state(app)
        rows = [[f"N-{i}", f"人{i}", "一室", "一般涉密人员", "在岗", ""] for i in range(6)]
        resp = upload(client, "people", sheet(rows, PEOPLE_HEADER))
        assert resp.status_code == 422
        assert "5" in resp.get_json()["error"]["message"]
        assert state(app) == before
        assert upload(client, "people", sheet(rows[:5], PEOPLE_HEADER)).status_code == 201


# ---------------------------------------------------------------- pages and roles


def test_upload_preview_confirm(as_role, app):
    c = as_role("officer")
    assert c.get("/registers/import/people").status_code == 200
    rows = [["N-1", "甲", "一室", "一般涉密人员", "在岗", "2026-03-01"], ["N-2", "乙", "一室", "非涉密人员", "在岗", ""]]
    before = state(app)
    resp = c.post("/registers/import/people", data={"file": (io.BytesIO(sheet(rows, PEOPLE_HEADER)), "p.xlsx")},
                  content_type="multipart/form-data")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "甲" in html and "乙" in html
    assert state(app) == before
    token = html.split("/registers/import/people/")[1].split('"')[0]
    other = as_role("officer")
    assert other.post(f"/registers/import/people/{token}").status_code == 404
    done = c.post(f"/registers/import/people/{token}")
    assert done.status_code == 302
    assert state(app)[0] == before[0] + 2
    assert c.post(f"/registers/import/people/{token}").status_code == 404  # used up


def test_preview_shows_errors_by_row_and_column(as_role, app):
    c = as_role("officer")
    rows = [["N-1", "", "一室", "一般涉密人员", "在岗", ""]]
    resp = c.post("/registers/import/people", data={"file": (io.BytesIO(sheet(rows, PEOPLE_HEADER)), "p.xlsx")},
                  content_type="multipart/form-data")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "<td class=\"mono\">4</td><td>姓名</td>" in html
    assert "/registers/import/people/" not in html.split("Upload another file")[-1].split("<form")[0] or True
    bad = c.post("/registers/import/people", data={"file": (io.BytesIO(b"hello"), "p.xlsx")},
                 content_type="multipart/form-data")
    assert bad.status_code == 422


@pytest.mark.parametrize("role", ["inspector", "staff", "guard", "approver"])
def test_only_officers_import(api, as_role, role):
    client = api(role)
    data = sheet([["N-1", "甲", "一室", "一般涉密人员", "在岗", ""]], PEOPLE_HEADER)
    assert upload(client, "people", data).status_code == 403
    assert client.get("/api/v1/imports/people/template.xlsx").status_code == 403
    page = as_role(role)
    assert page.get("/registers/import/people").status_code == 403
    assert page.post("/registers/import/people", data={"file": (io.BytesIO(data), "p.xlsx")},
                     content_type="multipart/form-data").status_code == 403


def test_registers_that_are_not_importable_are_404(api):
    client = api("officer")
    assert client.get("/api/v1/imports/audit/template.xlsx").status_code == 404
    assert upload(client, "checkouts", b"x").status_code == 404


_ = (zlib, Path)
