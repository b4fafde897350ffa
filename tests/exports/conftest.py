"""Helpers for the Excel tests: seeded registers (with hostile text), workbook readers."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, timedelta

import openpyxl
import pytest

from registry.extensions import db

# SECURITY-RESEARCH §7 item 29 payloads, plus control characters (item 30).
PAYLOADS = ["=1+1", '=HYPERLINK("http://x","y")', "@SUM(A1)", "+1 555 0100", "-2+3", "\t=1+1", "\r=1+1", "#REF!"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(data: bytes, **kw):
    return openpyxl.load_workbook(io.BytesIO(data), **kw)


def sheet_xmls(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n).decode("utf-8") for n in zf.namelist() if n.startswith("xl/worksheets/sheet")}


def assert_no_formulas(data: bytes) -> None:
    """No <f> element and no error cell anywhere in the workbook; openpyxl sees no formula."""
    for name, xml in sheet_xmls(data).items():
        assert "<f>" not in xml and "<f " not in xml, name
        assert 't="e"' not in xml, name
    wb = workbook(data)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type not in ("f", "e"), (ws.title, cell.coordinate, cell.value)


def header_row(ws) -> int:
    """1-based row of the header (the row repeated on every printed page)."""
    m = re.fullmatch(r"\$?(\d+):\$?(\d+)", ws.print_title_rows or "")
    assert m, ws.print_title_rows
    return int(m.group(1))


def assert_register_format(ws, *, marking: str | None = None, ncols: int | None = None) -> int:
    """Every formatting point of SPEC §8; returns the header row."""
    hr = header_row(ws)
    assert hr >= 5, "title block above the header"
    title_texts = [ws.cell(r, 1).value for r in range(1, hr)]
    assert all(isinstance(t, str) and t for t in title_texts[:2])
    joined = "\n".join(t for t in title_texts if isinstance(t, str))
    assert re.search(r"\d+:[0-9a-f]{64}", joined), "audit checkpoint SEQ:HASH in the title block"
    header = ws.cell(hr, 1)
    assert header.font.b, "bold header"
    assert header.fill.fgColor.rgb not in (None, "00000000"), "filled header"
    assert header.fill.fill_type == "solid"
    assert ws.freeze_panes == f"A{hr + 1}"
    assert ws.auto_filter.ref and ws.auto_filter.ref.startswith(f"A{hr}:")
    assert ws.print_title_rows == f"${hr}:${hr}"
    assert ws.page_setup.orientation == "landscape"
    assert int(ws.page_setup.paperSize) == 9
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth in (None, 1, "1")
    assert int(ws.page_setup.fitToHeight) == 0
    head = (ws.oddHeader.left.text or "") + (ws.oddHeader.center.text or "") + (ws.oddHeader.right.text or "")
    foot = (ws.oddFooter.left.text or "") + (ws.oddFooter.center.text or "") + (ws.oddFooter.right.text or "")
    assert "&P" in foot and "&N" in foot
    if marking:
        assert marking in head and marking in foot, (head, foot)
    widths = [ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width for i in range(1, (ncols or 2) + 1)]
    assert all(w and w > 4 for w in widths)
    return hr


def data_rows(ws, hr: int) -> list[list]:
    rows = []
    for row in ws.iter_rows(min_row=hr + 1, values_only=True):
        if any(v is not None for v in row):
            rows.append(list(row))
    return rows


def headers(ws, hr: int) -> list[str]:
    return [c.value for c in ws[hr] if c.value is not None]


@pytest.fixture
def seeded(app, make):
    """People, rooms, assets of every kind, checkouts, visitors, a visit, a project, a security event."""
    from registry.auth.models import User

    officer_id = make.user("officer")
    boss = make.person(name="张三", employee_no="E001", department="一室", category="core")
    hostile = make.person(name=PAYLOADS[0], employee_no="E002", department=PAYLOADS[2], position=PAYLOADS[3],
                          phone=PAYLOADS[4], notes="\t=1+1 \x07 bell", category="important")
    others = [make.person(name=f"Staff {i}", employee_no=f"E1{i:02d}", department="二室", category="general")
              for i in range(3)]
    room_secret = make.room(code="R-101", name="机要室", level="secret", responsible_id=boss)
    room_open = make.room(code="R-OPEN", name="会议室", level="internal", foreign_policy="open")
    out = {"officer_id": officer_id, "people": [boss, hostile, *others], "rooms": [room_secret, room_open]}
    with app.app_context():
        officer = db.session.get(User, officer_id)
        from registry.assets import services as assets
        from registry.people.models import Person

        made = []
        for kind, subtype, level, extra in (
                ("media", "paper", "confidential", {"pages": 12, "copies": 2, "doc_no": "=DOC-1"}),
                ("media", "disc", "secret", {}),
                ("computer", "desktop", "secret", {"hdd_serial": "HD-1", "mac": "00:11:22:33:44:55",
                                                   "network": "standalone"}),
                ("storage", "usb_flash", "confidential", {"capacity": "64 GB"}),
                ("equipment", "printer", "internal", {"foreign_supplied": False})):
            data = {"kind": kind, "subtype": subtype, "title": f"{PAYLOADS[1]} {kind}", "level": level,
                    "custodian_id": boss, "room_id": room_secret, "serial_no": "-42", "model": "@M1",
                    "notes": "", "scope_departments": ["一室"], "scope_person_ids": [boss, hostile], **extra}
            made.append(assets.create_asset(db.session, data, actor=officer))
        db.session.commit()
        out["assets"] = [a.id for a in made]
        borrower = db.session.get(Person, hostile)
        co = assets.checkout(db.session, made[0], borrower, actor=officer, purpose="=cmd|' /C calc'!A0")
        db.session.commit()
        out["checkout"] = co.id
        assets.checkin(db.session, made[0], actor=officer, condition="damaged", note="corner torn")
        db.session.commit()
        assets.checkout(db.session, made[3], borrower, actor=officer, purpose="copy files")
        db.session.commit()
        try:
            from registry.visits import services as visits
        except ImportError:  # pragma: no cover - visits not installed
            visits = None
        if visits is not None:
            from registry.areas.models import Room

            v1 = visits.create_visitor(db.session, {
                "name": "John Smith", "name_alt": "约翰", "nationality": "US", "id_doc_type": "passport",
                "id_doc_no": "P12345678", "organization": "=Acme", "position": "", "purpose": "talks",
                "host_id": boss, "project_id": None, "arrives_on": date.today() - timedelta(days=1),
                "departs_on": date.today() + timedelta(days=3), "blocked": False, "blocked_reason": "",
                "notes": ""}, actor=officer)
            v2 = visits.create_visitor(db.session, {
                "name": "李四", "name_alt": "", "nationality": "CN", "id_doc_type": "national_id",
                "id_doc_no": "110101199001011234", "organization": "兄弟单位", "position": "工程师",
                "purpose": "交流", "host_id": boss, "project_id": None, "arrives_on": date.today(),
                "departs_on": date.today(), "blocked": False, "blocked_reason": "", "notes": ""}, actor=officer)
            db.session.commit()
            visits.enter(db.session, v2, db.session.get(Room, room_open), actor=officer,
                         devices=[{"kind": "phone", "disposition": "deposited", "note": ""}])
            db.session.commit()
            out["visitors"] = [v1.id, v2.id]
        _seed_governance(app, officer, made, boss, others, room_secret, out)
        from registry.core.security_events import record_security_event

        record_security_event(db.session, kind="entry_denied", actor=officer, reason="no_permission",
                              subject_type="rooms", subject_id=room_secret, subject_label="=R-101",
                              details={"note": "@evil"})
        db.session.commit()
    return out


def _seed_governance(app, officer, assets, boss, others, room_id, out):
    """A passed project with a provision, a closed inventory, and a witnessed destruction."""
    from registry.auth.models import User
    from registry.people.models import Person

    try:
        from registry.cooperation import provision_services as provisions
        from registry.cooperation import services as cooperation
    except ImportError:  # pragma: no cover - cooperation not installed
        provisions = None
    if provisions is not None:
        project = cooperation.create_project(db.session, {
            "name": "=联合研究项目", "partner": "Acme GmbH", "partner_country": "DE", "department": "一室",
            "description": "", "starts_on": None, "ends_on": None}, actor=officer)
        cooperation.review_project(db.session, project, {
            "review_status": "passed", "reviewed_by": boss, "reviewed_on": date.today(), "conclusion": "同意"},
            actor=officer)
        provisions.create_provision(db.session, {
            "project_id": project.id, "material": "@技术说明书（公开版）", "level": "internal", "copies": 1,
            "recipient": "Acme GmbH", "recipient_country": "DE", "purpose": "合作", "legal_basis": "合同第5条"},
            actor=officer)
        db.session.commit()
        out["project"] = project.id
    try:
        from registry.approvals import services as approvals
        from registry.stocktake import services as stocktake
    except ImportError:  # pragma: no cover - stocktake not installed
        return
    inv = stocktake.start_inventory(db.session, [room_id], actor=officer, note="年度清查")
    stocktake.record_scan(db.session, inv, db.session.get(type(assets[1]), assets[1].id).registry_no, room_id,
                          actor=officer)
    stocktake.close_inventory(db.session, inv, actor=officer)
    db.session.commit()
    approval = stocktake.request_destruction_approval(db.session, [assets[4]], actor=officer, purpose="报废")
    db.session.commit()
    from tests.conftest import Factory

    approver_id = Factory(app).user("approver")
    approvals.decide(db.session, approval, decision="approved", actor=db.session.get(User, approver_id))
    db.session.commit()
    stocktake.record_destruction(db.session, {
        "asset_ids": [assets[4].id], "method": "shredding", "destroyed_on": date.today(), "performed_by": others[0],
        "witness_ids": [others[1], others[2]], "place": "销毁中心", "note": ""}, actor=officer)
    db.session.commit()
    out["destroyed"] = assets[4].id
    _ = Person
