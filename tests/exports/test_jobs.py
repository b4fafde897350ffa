"""Large exports run as background jobs: the page polls a fragment, the API answers 202 + a job URL."""

from __future__ import annotations

import hashlib
import time

import pytest
import sqlalchemy as sa

from registry.core.audit import AuditEvent
from registry.exports import jobs
from registry.extensions import db
from tests.exports.conftest import XLSX, assert_no_formulas, assert_register_format, data_rows, workbook


@pytest.fixture
def app_config():
    return {"EXPORT_JOB_THRESHOLD": 3}


def finish(job_id: str, timeout: float = 60) -> None:
    jobs.wait(job_id, timeout)
    assert job_id not in jobs.THREADS


def test_page_runs_a_large_export_as_a_job(seeded, as_role, app):
    c = as_role("officer")
    resp = c.get("/registers/audit.xlsx?lang=en")
    assert resp.status_code == 302
    job_url = resp.headers["Location"]
    assert "/registers/jobs/" in job_url
    job_id = job_url.rstrip("/").rsplit("/", 1)[1]
    page = c.get(job_url).get_data(as_text=True)
    assert f'data-refresh-url="/registers/jobs/{job_id}/status"' in page and 'hx-trigger="every 2s"' in page
    finish(job_id)
    fragment = c.get(f"/registers/jobs/{job_id}/status")
    assert fragment.status_code == 286  # htmx stops polling
    assert f"/registers/jobs/{job_id}/file" in fragment.get_data(as_text=True)
    file = c.get(f"/registers/jobs/{job_id}/file")
    assert file.status_code == 200 and file.mimetype == XLSX
    assert_no_formulas(file.data)
    ws = workbook(file.data).worksheets[0]
    hr = assert_register_format(ws)
    digest = hashlib.sha256(file.data).hexdigest()
    assert file.headers["X-Export-SHA256"] == digest
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "export.audit")).one()
        assert event.data["sha256"] == digest and event.actor == c.username and event.via == "web"
        assert event.data["rows"] == len(data_rows(ws, hr))
    # the job belongs to the user who started it
    other = as_role("officer")
    assert other.get(job_url).status_code == 404
    assert other.get(f"/registers/jobs/{job_id}/file").status_code == 404
    assert "/registers/jobs/" in c.get("/registers/").get_data(as_text=True)


def test_api_answers_202_with_a_job_url_then_the_file(seeded, api, app):
    client = api("inspector")
    resp = client.get("/api/v1/exports/people.xlsx")
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["job"].startswith("/api/v1/exports/jobs/") and body["state"] in ("queued", "running", "done")
    assert resp.headers["Location"] == body["job"]
    job_id = body["job"].rsplit("/", 1)[1]
    finish(job_id)
    done = client.get(body["job"])
    assert done.status_code == 200 and done.mimetype == XLSX
    ws = workbook(done.data).worksheets[0]
    assert len(data_rows(ws, assert_register_format(ws))) == 5
    assert api("inspector").get(body["job"]).status_code == 404
    assert client.get("/api/v1/exports/jobs/not-a-job").status_code == 404


def test_a_running_job_reports_its_status(seeded, api, app, monkeypatch):
    gate = {"open": False}
    real = jobs.write_export

    def slow(*args, **kwargs):
        deadline = time.time() + 20
        while not gate["open"] and time.time() < deadline:
            time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "write_export", slow)
    client = api("officer")
    body = client.get("/api/v1/exports/inspection-pack.xlsx").get_json()
    status = client.get(body["job"])
    assert status.status_code == 202
    assert status.get_json()["state"] in ("queued", "running")
    gate["open"] = True
    finish(body["job"].rsplit("/", 1)[1])
    assert client.get(body["job"]).status_code == 200


def test_a_failed_job_says_so(seeded, api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(jobs, "write_export", broken)
    client = api("officer")
    body = client.get("/api/v1/exports/people.xlsx").get_json()
    finish(body["job"].rsplit("/", 1)[1])
    resp = client.get(body["job"])
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "export_failed"
