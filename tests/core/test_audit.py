"""Audit trail: hash chain, append-only triggers, verification, checkpoints, CLI and API."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from registry.core import audit
from registry.core.audit import AuditEvent
from registry.extensions import db


def _events(n):
    for i in range(n):
        audit.record(db.session, actor=None, action="test.event", entity_type="things", entity_id=i,
                     data={"i": i, "text": "中文 ünïcode"})
    db.session.commit()


def test_chain_links_and_verifies(ctx):
    _events(5)
    rows = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)).all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS
    for prev, cur in zip(rows, rows[1:]):
        assert cur.prev_hash == prev.hash
    result = audit.verify(db.session)
    assert result.ok and result.events == 5 and result.head_hash == rows[-1].hash


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2",
    "DELETE FROM audit_events WHERE seq = 2",
    "UPDATE security_events SET reason = 'x'",
    "DELETE FROM security_events",
])
def test_database_refuses_update_and_delete(ctx, statement):
    _events(3)
    from registry.core.security_events import record_security_event

    record_security_event(db.session, kind="checkout_denied", reason="clearance_insufficient")
    db.session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(sa.text(statement))
        db.session.flush()
    db.session.rollback()


def _bypass_triggers(sql_list):
    """Simulate someone with raw database access editing the table behind the app's back."""
    engine = db.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET session_replication_role = replica")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_events_no_delete")
        for sql in sql_list:
            conn.exec_driver_sql(sql)


@pytest.mark.parametrize("tamper, first_bad", [
    (["UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"], 3),
    (["UPDATE audit_events SET data = '{\"i\": 99}' WHERE seq = 4"], 4),
    (["DELETE FROM audit_events WHERE seq = 2"], 2),
    (["UPDATE audit_events SET seq = 100 WHERE seq = 2", "UPDATE audit_events SET seq = 2 WHERE seq = 3",
      "UPDATE audit_events SET seq = 3 WHERE seq = 100"], 2),
])
def test_verify_names_first_broken_link(ctx, tamper, first_bad):
    _events(6)
    db.session.close()
    _bypass_triggers(tamper)
    result = audit.verify(db.session)
    assert not result.ok
    assert result.first_bad_seq == first_bad


def test_truncation_caught_against_checkpoint(ctx):
    _events(6)
    checkpoint = audit.parse_checkpoint(audit.checkpoint_text(db.session))
    assert audit.verify(db.session, checkpoint).ok
    db.session.close()
    _bypass_triggers(["DELETE FROM audit_events WHERE seq >= 5"])
    assert audit.verify(db.session).ok  # a cut tail alone is invisible to the chain ...
    result = audit.verify(db.session, checkpoint)  # ... but not to a kept checkpoint
    assert not result.ok and result.problem == "truncated_before_checkpoint"


def test_checkpoint_with_wrong_hash_fails(ctx):
    _events(3)
    seq, head = audit.parse_checkpoint(audit.checkpoint_text(db.session))
    result = audit.verify(db.session, (seq, "f" * 64))
    assert not result.ok and result.first_bad_seq == seq


@pytest.mark.parametrize("text", ["", "12", "x:abc", "3:" + "g" * 64, "3:" + "a" * 63])
def test_parse_checkpoint_rejects_garbage(text):
    with pytest.raises(ValueError):
        audit.parse_checkpoint(text)


def test_cli_verify_and_checkpoint(app, runner):
    with app.app_context():
        _events(2)
    out = runner.invoke(args=["audit", "checkpoint"])
    assert out.exit_code == 0
    cp = out.output.split()[0]
    ok = runner.invoke(args=["audit", "verify", "--checkpoint", cp])
    assert ok.exit_code == 0 and "ok: 2 events" in ok.output
    with app.app_context():
        db.session.close()
        _bypass_triggers(["UPDATE audit_events SET action = 'forged' WHERE seq = 1"])
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1 and "first bad sequence 1" in bad.output
    with app.app_context():
        from registry.core.security_events import SecurityEvent

        kinds = db.session.scalars(sa.select(SecurityEvent.kind)).all()
        assert "audit_chain_broken" in kinds


def test_api_verify(api, app):
    officer = api("officer")
    body = officer.get("/api/v1/audit/verify").get_json()
    assert body["ok"] is True and len(body["head"]) == 64
    assert officer.get("/api/v1/audit/verify?checkpoint=nonsense").status_code == 422
    with app.app_context():
        db.session.close()
        _bypass_triggers(["UPDATE audit_events SET actor = 'x' WHERE seq = 1"])
    body = officer.get("/api/v1/audit/verify").get_json()
    assert body == {"ok": False, "first_bad_seq": 1, "problem": "hash_mismatch", "events": 0}


def test_staff_cannot_verify(api):
    assert api("staff").get("/api/v1/audit/verify").status_code == 403


def test_every_change_in_same_transaction(ctx):
    """A rolled-back change leaves no audit event behind."""
    from registry.people import services

    before = audit.head(db.session)
    services.create_person(db.session, {"name": "X", "employee_no": "Z9", "nationality": "CN", "category": "none",
                                        "status": "active"}, actor=None)
    db.session.rollback()
    assert audit.head(db.session) == before


def test_record_many_appends_what_record_would(ctx):
    """record_many builds each payload from pieces (the data serialised once, for the hash and the
    column): the chain must be byte for byte what record() appends for the same events."""
    from datetime import date, datetime, timezone

    from registry.core.models import Level

    at = datetime(2026, 11, 27, 8, 30, 15, 123456, tzinfo=timezone.utc)
    events = [
        {"action": "asset.create", "entity_type": "assets", "entity_id": 7,
         "data": {"after": {"title": 'He said "引号" \\ and \u2028 \x01', "level": Level.SECRET,
                            "on": date(2026, 1, 2), "scope": {"departments": ["一室", "b"], "person_ids": [3, 1]},
                            "n": 1.5, "flag": True, "none": None}}},
        {"action": "x.no_data", "entity_type": None, "entity_id": None},
        {"action": "x.empty", "entity_type": "things", "entity_id": 0, "data": {}},
        {"action": "x.tuple", "entity_type": "things", "entity_id": 2, "data": {"ids": (1, 2), "z": {"b": 1, "a": 2}}},
    ]
    audit.record(db.session, actor=None, action="seed", data={"i": 0})
    db.session.commit()
    audit.record_many(db.session, actor=None, events=events, at=at)
    bulk = [(r.seq, r.hash, r.data) for r in db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.seq > 1).order_by(AuditEvent.seq))]
    stored = db.session.execute(sa.text("SELECT data FROM audit_events WHERE seq = 2")).scalar()
    db.session.rollback()
    one_by_one = []
    for ev in events:
        e = audit.record(db.session, actor=None, action=ev["action"], entity_type=ev["entity_type"],
                         entity_id=ev["entity_id"], data=ev.get("data"), at=at)
        one_by_one.append((e.seq, e.hash, e.data))
    db.session.commit()
    assert len(bulk) == 4 and [b[:2] for b in bulk] == [o[:2] for o in one_by_one]
    assert bulk[0][2]["after"]["level"] == "secret" and bulk[0][2]["after"]["on"] == "2026-01-02"
    assert bulk[1][2] is None and bulk[3][2] == {"ids": [1, 2], "z": {"a": 2, "b": 1}}
    # stored once, in the canonical form the hash covers
    assert stored.startswith('{"after":{"flag":true,"level":"secret","n":1.5,"none":null,"on":"2026-01-02"')
    assert audit.verify(db.session).ok


def test_json_text_is_canonical_and_keeps_a_serialised_document(ctx):
    from registry.core.models import JSONDocument, JSONText

    t = JSONText()
    assert t.process_bind_param({"b": [1, "é"], "a": None}, db.engine.dialect) == '{"a":null,"b":[1,"é"]}'
    assert t.process_bind_param(JSONDocument('{"x":1}'), db.engine.dialect) == '{"x":1}'
    assert t.process_bind_param("plain text", db.engine.dialect) == '"plain text"'
