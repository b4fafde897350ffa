"""Asset imports through the bulk path (assets.services.AssetBatch): the same records as the per-row
path (create_asset), all or nothing, keys unique case-insensitively, recorded, the chain intact."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from registry.assets.models import Asset, AssetScope, RegistryCounter
from registry.core.audit import AuditEvent
from registry.core.labels import Label
from registry.exports import registers as regs
from registry.extensions import db
from tests.exports.test_imports import upload

FIRST = 5  # the template's first data row
KINDS = ("media", "computer", "storage", "equipment")
LEVELS = ("internal", "confidential", "secret", "top_secret")


@pytest.fixture
def world(app, make):
    people = [make.person(employee_no=f"E-{i}", department="一室", category="core") for i in range(6)]
    rooms = {"secret": make.room(code="R-SECRET", level="secret"), "internal": make.room(code="R-OPEN",
                                                                                         level="internal")}
    return {"officer_id": make.user("officer"), "people": people, "rooms": rooms}


def rows_of(n: int, *, given: str | None = None) -> list[dict]:
    """n items of every kind, as a user fills the template (keys, employee numbers, room codes)."""
    rows = []
    for i in range(n):
        kind = KINDS[i % 4]
        row = {"kind": kind, "title": f"导入 {i}", "level": LEVELS[i % 4], "custodian_id": f"e-{i % 6}",
               "room_id": ("R-SECRET", "r-open", None)[i % 3], "serial_no": f"S{i}", "model": "M-1",
               "notes": "备注" if i % 7 == 0 else None}
        if kind == "media":
            row.update(subtype=("paper", "disc")[i % 2], doc_no=f"D-{i}", originator="一室", pages=i % 40,
                       copies=1 + i % 3, copy_no=1)
        elif kind == "computer":
            row.update(subtype="laptop", hdd_serial=f"HD{i}", mac=f"00:11:22:33:{i // 256 % 256:02X}:{i % 256:02X}",
                       network=None if i % 2 else "classified", os="Kylin", ip=f"10.0.{i // 256}.{i % 256}")
        elif kind == "storage":
            row.update(subtype="usb_flash", capacity="64 GB")
        else:
            row.update(subtype="printer", foreign_supplied="yes" if row["room_id"] != "R-SECRET" else "no")
        if i % 3 == 0:
            row.update(scope_departments="一室，二室", scope_person_ids=f"E-{i % 6},E-{(i + 1) % 6}")
        if i % 6 == 0:
            row["secrecy_years"] = 5
        if i % 11 == 0:
            row["declassify_on"] = "2040-01-01"
        if given and i % 10 == 0:
            row["registry_no"] = f"{given}-{i:04d}"
        rows.append(row)
    return rows


def build(app, path: Path, rows: list[dict], register: str = "assets") -> Path:
    """The register's import template (title block, header) with the rows filled in; data start on
    row FIRST (as Excel counts)."""
    from registry.exports.imports import find_layout, write_template

    with app.app_context():
        reg = regs.get(register)
        write_template(reg, "en", path, unit="Test unit")
        wb = openpyxl.load_workbook(path)
        ws = wb.worksheets[0]
        layout = find_layout(ws, reg)
        by_field = {col.field: i for i, col in layout.columns.items()}
        width = max(layout.columns) + 1
        for values in rows:
            row = [None] * width
            for fld, value in values.items():
                row[by_field[fld]] = value
            ws.append(row)
        assert layout.header_row + 1 == FIRST
        wb.save(path)
    return path


def run(app, path: Path, officer_id: int, *, dry_run: bool = False, register: str = "assets"):
    from registry.auth.models import User
    from registry.exports.imports import import_file

    with app.test_request_context("/import", method="POST"):
        result = import_file(db.session, regs.get(register), path, actor=db.session.get(User, officer_id),
                             dry_run=dry_run, filename=path.name)
        if result.ok and not dry_run:
            db.session.commit()
        else:
            db.session.rollback()
        db.session.remove()
    return result


def counts(app) -> dict:
    with app.app_context():
        out = {m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m))
               for m in (Asset, AssetScope, Label, AuditEvent)}
        out["counters"] = sorted(db.session.execute(sa.select(RegistryCounter.kind, RegistryCounter.last)).all())
        return out


def created(app, since_id: int) -> list[dict]:
    """What each new item looks like, in id order: fields, scope, label, its audit event."""
    from registry.assets.services import snapshot

    out = []
    with app.app_context():
        for a in db.session.scalars(sa.select(Asset).where(Asset.id > since_id).order_by(Asset.id)):
            labels = db.session.scalars(sa.select(Label).where(Label.target_type == "asset",
                                                               Label.target_id == a.id)).all()
            events = db.session.scalars(sa.select(AuditEvent).where(
                AuditEvent.entity_type == "assets", AuditEvent.entity_id == a.id).order_by(AuditEvent.seq)).all()
            snap = snapshot(a)
            out.append({"id": a.id, "registry_no": a.registry_no, "snapshot": snap, "label_code": a.label_code,
                        "labels": [(lb.code, lb.revoked_at, lb.issued_by) for lb in labels],
                        "events": [(e.action, e.actor, e.data) for e in events], "seqs": [e.seq for e in events],
                        "registered_on": a.registered_on, "status": a.status.value})
    return out


def without_number(item: dict) -> dict:
    snap = dict(item["snapshot"], registry_no=None)
    events = []
    for action, actor, data in item["events"]:
        events.append((action, actor, {"after": dict(data["after"], registry_no=None)}))
    return {"snapshot": snap, "events": events, "registered_on": item["registered_on"], "status": item["status"],
            "labels": [(revoked, issued_by) for _code, revoked, issued_by in item["labels"]]}


def test_bulk_import_creates_what_the_per_row_path_creates(app, world, tmp_path, monkeypatch):
    n = 500
    base = counts(app)
    bulk_file = build(app, tmp_path / "bulk.xlsx", rows_of(n, given="BULK"))
    result = run(app, bulk_file, world["officer_id"])
    assert result.ok, result.errors[:5]
    assert (result.created, result.rows) == (n, n)
    bulk = created(app, 0)
    assert len(bulk) == n
    after_bulk = counts(app)

    monkeypatch.setattr(regs.get("assets").importer, "bulk", None)      # the per-row path: create_asset
    single_file = build(app, tmp_path / "single.xlsx", rows_of(n, given="ROW"))
    result = run(app, single_file, world["officer_id"])
    assert result.ok and result.created == n
    single = created(app, bulk[-1]["id"])
    assert len(single) == n

    assert [without_number(b) for b in bulk] == [without_number(s) for s in single]
    for b in bulk:
        assert [code for code, _revoked, _by in b["labels"]] == [b["label_code"]]
        assert b["labels"][0][1:] == (None, b["events"][0][1]) and b["events"][0][1].startswith("officer")
        assert len(b["events"]) == 1 and b["events"][0][2]["after"]["registry_no"] == b["registry_no"]
    codes = [b["label_code"] for b in bulk + single]
    assert len(set(codes)) == len(codes) == 2 * n and all(codes)
    # numbers: given ones kept; the others continue the counters, in row order, as create_asset gives them
    assert [b["registry_no"] for b in bulk[::10]] == [f"BULK-{i:04d}" for i in range(0, n, 10)]
    year = bulk[0]["registered_on"].year
    prefixes = {"media": "ZT", "computer": "JSJ", "storage": "YD", "equipment": "SB"}
    for kind in KINDS:
        numbered = [b["registry_no"] for i, b in enumerate(bulk) if KINDS[i % 4] == kind and i % 10]
        assert numbered == [f"{prefixes[kind]}-{year}-{k:05d}" for k in range(1, len(numbered) + 1)]
    generated = n - n // 10
    assert sum(last for _k, last in after_bulk["counters"]) - sum(last for _k, last in base["counters"]) == generated
    # audit: one asset.create per item in row order, one after the other, then import.assets
    seqs = [b["seqs"][0] for b in bulk]
    assert seqs == list(range(seqs[0], seqs[0] + n))
    with app.app_context():
        nxt = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.seq == seqs[-1] + 1))
        assert nxt.action == "import.assets" and nxt.data["created"] == n and nxt.data["rows"] == n
        assert len(nxt.data["sha256"]) == 64 and nxt.data["file"] == "bulk.xlsx"
        scopes = db.session.scalar(sa.select(sa.func.count(AssetScope.id)).where(AssetScope.asset_id <= bulk[-1]["id"]))
    assert scopes == sum(4 for i in range(n) if i % 3 == 0)
    runner = app.test_cli_runner()
    out = runner.invoke(args=["audit", "verify"])
    assert out.exit_code == 0, out.output


def test_one_bad_row_anywhere_writes_nothing(app, world, tmp_path):
    before = counts(app)
    rows = rows_of(300)
    rows[217]["custodian_id"] = "NOPE"                                     # a reference that does not resolve
    rows[42].update(kind="equipment", subtype="printer", foreign_supplied="yes", room_id="R-SECRET")  # a rule
    rows[99]["level"] = "very secret"                                      # a cell
    rows[150].update(kind="computer", subtype="laptop", mac="not a mac")   # the form
    result = run(app, build(app, tmp_path / "bad.xlsx", rows), world["officer_id"])
    assert not result.ok and result.created == 0 and result.rows == 300
    by_row = {e["row"] - FIRST: e for e in result.errors}
    assert sorted(by_row) == [42, 99, 150, 217], result.errors
    assert "inspection_required" in by_row[42]["message"]
    assert by_row[99]["field"] == "level"
    assert by_row[150]["field"] == "mac"
    assert by_row[217]["field"] == "custodian_id" and "NOPE" in by_row[217]["message"]
    assert counts(app) == before


def test_duplicate_registry_numbers_are_refused_case_insensitively(app, world, tmp_path):
    from registry.assets.services import create_asset

    with app.app_context():
        create_asset(db.session, {"kind": "media", "subtype": "paper", "title": "old", "level": "internal",
                                  "registry_no": "ZT-OLD-1"}, actor=None)
        db.session.commit()
    before = counts(app)
    rows = rows_of(8)
    rows[1]["registry_no"] = "zt-old-1"                                    # in the database, other case
    rows[3]["registry_no"] = "NEW-7"
    rows[6]["registry_no"] = " new-7 "                                     # twice in the file
    result = run(app, build(app, tmp_path / "dup.xlsx", rows), world["officer_id"])
    assert not result.ok and result.created == 0
    errors = sorted((e["field"], e["message"]) for e in result.errors)
    assert len(errors) == 2 and {f for f, _m in errors} == {"registry_no"}
    assert {m for _f, m in errors} == {"Already registered; an import only creates new records.",
                                       "This key appears twice in the file."}
    assert {(e["row"] - FIRST, e["message"]) for e in result.errors} == {
        (1, "Already registered; an import only creates new records."), (6, "This key appears twice in the file.")}
    assert counts(app) == before


def test_dry_run_validates_everything_and_writes_nothing(app, world, tmp_path):
    before = counts(app)
    result = run(app, build(app, tmp_path / "dry.xlsx", rows_of(40)), world["officer_id"], dry_run=True)
    assert result.ok and (result.created, result.rows) == (40, 40)
    assert result.preview and all(p["ok"] for p in result.preview)
    assert counts(app) == before


def test_api_import_is_recorded_and_the_chain_verifies(app, api, world, tmp_path):
    fields = {c.field for c in regs.get("media").import_columns()} - {"kind"}
    data = build(app, tmp_path / "media.xlsx", [{k: v for k, v in r.items() if k in fields}
                                                 for r in rows_of(60) if r["kind"] == "media"],
                 register="media").read_bytes()
    client = api("officer")
    resp = upload(client, "media", data)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json() == {"created": 15, "errors": [], "dry_run": False, "rows": 15}
    with app.app_context():
        last = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(16)).all()
        assert last[0].action == "import.media" and last[0].via == "api" and last[0].data["created"] == 15
        assert [e.action for e in last[1:]] == ["asset.create"] * 15
        assert [e.entity_id for e in last[1:]] == sorted((e.entity_id for e in last[1:]), reverse=True)
        assert {e.actor for e in last} == {last[0].actor} and {e.via for e in last} == {"api"}
    out = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert out.exit_code == 0, out.output


def test_the_page_and_api_accept_larger_files_of_bulk_registers(app):
    from registry.exports.imports import limits

    with app.app_context():
        assert limits(register=regs.get("assets")).max_rows == limits(register=regs.get("media")).max_rows == 20_000
        assert limits(register=regs.get("people")).max_rows == limits().max_rows == 2_000   # row by row
        assert limits(50_000, regs.get("assets")).max_rows == 50_000                         # the CLI's



def test_the_row_form_validates_as_the_api_does(app):
    """RowForm (one form re-processed, field outcomes remembered) answers exactly as validate_row (a
    fresh form per row), valid or not, whatever the order of the rows."""
    import itertools
    import random

    from registry.assets.forms import AssetForm
    from registry.core.errors import ValidationFailed
    from registry.exports.imports import RowForm, validate_row
    from registry.people.forms import PersonForm

    values = {
        "kind": ["media", "computer", "equipment", "", "bogus"], "subtype": ["paper", "laptop", "printer", "", "x"],
        "title": ["ok", "", "  padded  ", "x" * 301, "bell\x07"], "level": ["internal", "secret", "", "nope"],
        "pages": ["", "12", "-1", "abc"], "mac": ["", "00:11:22:33:44:55", "zz"], "ip": ["", "10.0.0.1", "999.1.1.1"],
        "declassify_on": ["", "2040-01-01", "1900-01-01", "tomorrow"], "custodian_id": ["", "5", "x", "99999999999999"],
        "foreign_supplied": ["", "y"], "scope_departments": [[], ["一室", "二室"], ["x" * 121]],
        "scope_person_ids": [[], ["1", "2"], ["a"]],
    }
    rng = random.Random(8)
    rows = [{k: rng.choice(v) for k, v in values.items()} for _ in range(400)]
    every_4999th = itertools.islice(itertools.product(*values.values()), 0, None, 4999)
    rows += [dict(zip(values, combo)) for combo in every_4999th]

    def outcome(fn, data):
        try:
            out = fn(data)
            return "ok", out if isinstance(out, dict) else out.data
        except ValidationFailed as exc:
            return "error", exc.details

    with app.test_request_context("/x", method="POST"):
        row_form = RowForm(AssetForm)
        assert {"subtype", "kind", "title"} <= row_form.local and "subtype" in row_form.inline and not row_form.whole
        expected = [outcome(lambda d: validate_row(AssetForm, d), data) for data in rows]
        for data, answer in zip(rows, expected):
            assert outcome(row_form, data) == answer, data
        row_form = RowForm(AssetForm)
        for data, answer in reversed(list(zip(rows, expected))):    # other rows first: other memo contents
            assert outcome(row_form, data) == answer, data
        assert RowForm(PersonForm).whole   # a form with its own validate() runs whole


def test_cells_with_equal_values_of_another_kind_are_parsed_apart(app, world, tmp_path):
    """Cells are parsed once per distinct value, but a formula is not the text it spells and
    1, 1.0 and TRUE are not one value: the remembered outcome is per (value, type, cell type)."""
    path = build(app, tmp_path / "kinds.xlsx", rows_of(3))
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    header = {c.value: c.column for c in ws[FIRST - 1] if c.value}
    title, pages = header["Title"], header["Pages"]
    ws.cell(FIRST, title).value = "=1+1"             # a formula (openpyxl writes it as one)
    ws.cell(FIRST + 1, title).value = "=1+1"
    ws.cell(FIRST + 1, title).data_type = "s"        # the same characters as text
    ws.cell(FIRST + 2, title).value = "=1+1"         # a formula again, after the text
    wb.save(path)
    result = run(app, path, world["officer_id"], dry_run=True)
    assert [(e["row"], e["field"]) for e in result.errors] == [(FIRST, "title"), (FIRST + 2, "title")]

    rows = rows_of(3)
    rows[0]["pages"], rows[1]["pages"], rows[2]["pages"] = 1, 1.0, True
    path = build(app, tmp_path / "numbers.xlsx", rows)
    result = run(app, path, world["officer_id"], dry_run=True)
    assert {(e["row"], e["field"]) for e in result.errors} == {(FIRST + 2, "pages")}  # TRUE is not a number
    assert header["Pages"] == pages


def test_the_import_runs_with_the_collector_paused_and_restores_it(app, world, tmp_path, monkeypatch):
    import gc

    from registry.core.memory import paused_gc
    from registry.exports import imports

    seen = []
    real = imports._import_book

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(imports, "_import_book", spy)
    assert gc.isenabled()
    result = run(app, build(app, tmp_path / "gc.xlsx", rows_of(4)), world["officer_id"])
    assert result.ok and result.created == 4
    assert seen == [False] and gc.isenabled()

    with pytest.raises(RuntimeError):            # restored after an error too
        with paused_gc():
            raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()                                 # a collector paused by the caller stays paused
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
