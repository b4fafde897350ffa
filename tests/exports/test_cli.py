"""`flask export REGISTER --out FILE` and `flask import REGISTER FILE [--dry-run]`."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from registry.core.audit import AuditEvent
from registry.extensions import db
from tests.exports.conftest import assert_no_formulas, assert_register_format, data_rows, workbook


def test_export_command(seeded, runner, app, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "people.xlsx"
    result = runner.invoke(args=["export", "people", "--out", str(out), "--lang", "en", "--from", "2020-01-01"])
    assert result.exit_code == 0, result.output
    assert "5 rows" in result.output
    data = out.read_bytes()
    assert_no_formulas(data)
    ws = workbook(data).worksheets[0]
    hr = assert_register_format(ws)
    assert ws.cell(hr, 2).value == "Employee no." and len(data_rows(ws, hr)) == 5
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "export.people")).one()
        assert event.via == "cli" and event.actor == "system"
        assert event.data["sha256"] == hashlib.sha256(data).hexdigest()
    assert [p.name for p in folder.iterdir()] == ["people.xlsx"], "no temporary file left behind"


def test_export_pack_and_bad_arguments(seeded, runner, tmp_path):
    out = tmp_path / "pack.xlsx"
    assert runner.invoke(args=["export", "inspection-pack", "--out", str(out)]).exit_code == 0
    assert workbook(out.read_bytes()).sheetnames[0] == "封面"
    bad = runner.invoke(args=["export", "nonsense", "--out", str(tmp_path / "x.xlsx")])
    assert bad.exit_code != 0 and "unknown" in bad.output
    bad = runner.invoke(args=["export", "people", "--out", str(tmp_path / "x.xlsx"), "--from", "soon"])
    assert bad.exit_code != 0 and "from" in bad.output


def test_import_command(seeded, runner, app, tmp_path):
    from registry.people.models import Person

    exported = tmp_path / "people.xlsx"
    runner.invoke(args=["export", "people", "--out", str(exported)])
    # the same file again: every key exists, so every row is an error and nothing changes
    again = runner.invoke(args=["import", "people", str(exported)])
    assert again.exit_code == 1 and "row 8" in again.output and "nothing was imported" in again.output
    # a file with new employee numbers imports; the dry run first changes nothing
    wb = workbook(exported.read_bytes())
    ws = wb.worksheets[0]
    hr = assert_register_format(ws)
    for r in range(hr + 1, ws.max_row + 1):
        ws.cell(r, 2).value = f"NEW-{r}"
        ws.cell(r, 3).value = f"新人{r}"  # the stored "=1+1" would now be a formula: openpyxl writes it as one
    fresh = tmp_path / "fresh.xlsx"
    wb.save(fresh)
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count(Person.id)))
    dry = runner.invoke(args=["import", "people", str(fresh), "--dry-run"])
    assert dry.exit_code == 0 and "nothing was changed" in dry.output, dry.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Person.id))) == before
    done = runner.invoke(args=["import", "people", str(fresh)])
    assert done.exit_code == 0 and "5 records created" in done.output, done.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Person.id))) == before + 5
    refused = runner.invoke(args=["import", "audit", str(fresh)])
    assert refused.exit_code != 0 and "cannot be imported" in refused.output
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook")
    refused = runner.invoke(args=["import", "people", str(text)])
    assert refused.exit_code != 0 and ".xlsx" in refused.output
