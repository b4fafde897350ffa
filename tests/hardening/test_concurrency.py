"""Concurrency against real gunicorn workers (SECURITY-RESEARCH §7 items 34–36, 43).

Every round releases its requests together (a barrier) over 20 connections, so the four sync
workers race for the same row. HARDENING_ROUNDS lowers the round counts while developing; the
defaults are the issue's parameters.
"""

from __future__ import annotations

import os

import pytest

from tests.hardening.conftest import assert_invariants, figure, parallel

ROUNDS = int(os.environ.get("HARDENING_ROUNDS", "50"))
PARALLEL = 20


def _status(resp):
    return resp if isinstance(resp, Exception) else resp.status_code


def _no_server_trouble(responses):
    """No exception, no 5xx, and no SQLite lock error leaking into any body."""
    problems = [r for r in responses if isinstance(r, Exception) or r.status_code >= 500
                or "locked" in r.text.lower()]
    assert not problems, [(_status(r), getattr(r, "text", "")[:200]) for r in problems]


@pytest.fixture(scope="module")
def custody(server):
    """Two officers (tokens), a borrower per officer, and a guard and staff token."""
    people = [server.make.person(category="important") for _ in range(2)]
    return {
        "officers": [server.token("officer") for _ in range(2)],
        "borrowers": people,
        "staff": server.token("staff"),
    }


def _new_asset(server, token, level="internal"):
    resp = server.post("/api/v1/assets", token, json={"kind": "media", "subtype": "paper", "level": level,
                                                      "title": "Race target"})
    assert resp.status_code == 201, resp.text[:300]
    return resp.json()["id"]


@pytest.mark.slow
def test_parallel_checkouts_one_winner_per_round(server, custody):
    """50 rounds x 20 parallel checkouts of one item from two officers: exactly one 201, the rest 409."""
    officers, borrowers = custody["officers"], custody["borrowers"]
    asset_id = _new_asset(server, officers[0])
    winners, losers = [], 0
    for rnd in range(ROUNDS):
        def checkout(i):
            return server.post(f"/api/v1/assets/{asset_id}/checkout", officers[i % 2],
                               json={"borrower_id": borrowers[i % 2], "purpose": f"round {rnd}"})

        responses = parallel(PARALLEL, checkout)
        _no_server_trouble(responses)
        codes = [r.status_code for r in responses]
        winners.append(codes.count(201))
        losers += codes.count(409)
        assert codes.count(201) == 1 and codes.count(409) == PARALLEL - 1, (rnd, codes)
        assert {r.json()["error"]["code"] for r in responses if r.status_code == 409} == {"asset_unavailable"}
        back = server.post(f"/api/v1/assets/{asset_id}/checkin", officers[rnd % 2], json={"condition": "intact"})
        assert back.status_code == 200, back.text[:300]
    assert server.scalar("SELECT count(*) FROM checkouts WHERE asset_id = :a", a=asset_id) == ROUNDS
    assert_invariants(server)
    figure("parallel checkouts", rounds=ROUNDS, parallel=PARALLEL, workers=server.workers,
           winners_per_round=sorted(set(winners)), total_201=sum(winners), total_409=losers, errors_5xx=0)


@pytest.mark.slow
def test_parallel_checkin_and_checkout(server, custody):
    """Returns and checkouts of one item at once: every answer is consistent with the final state."""
    officers, borrowers = custody["officers"], custody["borrowers"]
    asset_id = _new_asset(server, officers[0])
    path = f"/api/v1/assets/{asset_id}"
    assert server.post(path + "/checkout", officers[0], json={"borrower_id": borrowers[0],
                                                              "purpose": "start"}).status_code == 201
    tally = {"rounds": 0, "checkins": 0, "checkouts": 0}
    for rnd in range(max(ROUNDS // 5, 2)):
        def act(i):
            if i % 2:
                return server.post(path + "/checkin", officers[i % 2], json={"condition": "intact"})
            return server.post(path + "/checkout", officers[i % 2], json={"borrower_id": borrowers[0],
                                                                         "purpose": "again"})

        was_out = server.scalar("SELECT status FROM assets WHERE id = :a", a=asset_id) == "checked_out"
        responses = parallel(PARALLEL, act)
        _no_server_trouble(responses)
        ins = sum(1 for i, r in enumerate(responses) if i % 2 and r.status_code == 200)
        outs = sum(1 for i, r in enumerate(responses) if not i % 2 and r.status_code == 201)
        refused = {r.json()["error"]["code"] for r in responses if r.status_code == 409}
        assert refused <= {"asset_unavailable", "not_checked_out"}, refused
        assert ins + outs + sum(1 for r in responses if r.status_code == 409) == PARALLEL
        now_out = server.scalar("SELECT status FROM assets WHERE id = :a", a=asset_id) == "checked_out"
        # each success flips the state: the successes alternate, starting from the state before the round
        lead = (ins - outs) if was_out else (outs - ins)
        expected_out = was_out if lead == 0 else (not was_out)
        assert lead in (0, 1) and now_out == expected_out, (rnd, was_out, ins, outs, now_out)
        assert_invariants(server)
        tally["rounds"] += 1
        tally["checkins"] += ins
        tally["checkouts"] += outs
    figure("parallel checkin and checkout", parallel=PARALLEL, **tally)
    # a return by someone who may not receive items (staff) is refused and changes nothing
    status = server.scalar("SELECT status FROM assets WHERE id = :a", a=asset_id)
    denied = server.post(path + "/checkin", custody["staff"], json={"condition": "intact"})
    assert denied.status_code in (403, 404)
    assert server.scalar("SELECT status FROM assets WHERE id = :a", a=asset_id) == status


@pytest.mark.slow
def test_one_visitor_into_two_rooms_at_once(server):
    """A visitor entered into two rooms concurrently: one entry wins, the rest are already_inside."""
    guards = [server.token("guard") for _ in range(2)]
    rooms = [server.make.room(level="internal", foreign_policy="open") for _ in range(2)]
    visitor = server.make.visitor(nationality="CN")
    for rnd in range(max(ROUNDS // 5, 2)):
        responses = parallel(PARALLEL, lambda i: server.post("/api/v1/visits", guards[i % 2], json={
            "visitor_id": visitor, "room_id": rooms[i % 2]}))
        _no_server_trouble(responses)
        codes = [r.status_code for r in responses]
        assert codes.count(201) == 1, (rnd, codes)
        assert {r.json()["error"]["code"] for r in responses if r.status_code != 201} == {"already_inside"}
        visit = next(r.json()["id"] for r in responses if r.status_code == 201)
        exits = parallel(4, lambda i: server.post(f"/api/v1/visits/{visit}/exit", guards[i % 2]))
        _no_server_trouble(exits)
        assert sorted(r.status_code for r in exits) == [200, 409, 409, 409]  # one exit; no exit without entry
    assert_invariants(server)
    figure("one visitor into two rooms", rounds=max(ROUNDS // 5, 2), parallel=PARALLEL, entries_per_round=1,
           exits_per_round="1 of 4")


@pytest.mark.slow
def test_parallel_audited_actions_keep_one_chain(server):
    """200 audited writes across the workers: contiguous seq, no forked link, the chain verifies."""
    officers = [server.token("officer") for _ in range(4)]
    start_seq = server.scalar("SELECT max(seq) FROM audit_events") or 0

    def create(i):
        codes = []
        for j in range(10):
            r = server.post("/api/v1/rooms", officers[i % 4], json={
                "code": f"P{i:02d}-{j:02d}", "name": f"Parallel room {i}/{j}", "level": "internal",
                "foreign_policy": "open"})
            codes.append(r.status_code)
        return codes

    results = parallel(PARALLEL, create)
    assert all(isinstance(r, list) for r in results), results
    assert sum(c == 201 for r in results for c in r) == 200, results
    seqs = [row[0] for row in server.rows("SELECT seq FROM audit_events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) - start_seq >= 200
    dupes = server.rows("SELECT prev_hash FROM audit_events GROUP BY prev_hash HAVING count(*) > 1")
    assert not dupes
    verdict = server.verify_audit()
    assert verdict.ok, verdict
    figure("parallel audited writes", writes_201=200, parallel=PARALLEL, seq_contiguous=len(seqs),
           forked_links=len(dupes), chain_ok=verdict.ok, chain_events=verdict.events)


@pytest.mark.slow
@pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")), reason="SQLite's online backup (PostgreSQL: pg_dump)")
def test_online_backup_during_checkout_load(server, custody, tmp_path):
    """A backup taken while checkouts race (item 39): intact, self-contained, every earlier commit in it."""
    import sqlite3
    import threading

    from registry.core import backup
    from registry.extensions import db

    officers, borrowers = custody["officers"], custody["borrowers"]
    asset_id = _new_asset(server, officers[0])
    acked: list[int] = []
    stop = threading.Event()

    def load():
        rnd = 0
        while not stop.is_set():
            rnd += 1
            responses = parallel(8, lambda i: server.post(f"/api/v1/assets/{asset_id}/checkout", officers[i % 2],
                                                          json={"borrower_id": borrowers[i % 2], "purpose": "bk"}))
            acked.extend(r.json()["id"] for r in responses if not isinstance(r, Exception) and r.status_code == 201)
            server.post(f"/api/v1/assets/{asset_id}/checkin", officers[0], json={"condition": "intact"})

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    try:
        while len(acked) < 3:
            threading.Event().wait(0.1)
        before = list(acked)
        out = tmp_path / "under-load.sqlite"
        with server.app.app_context():
            backup.backup_sqlite(db.engine, str(out))
        while len(acked) < len(before) + 3:  # the load went on during and after the backup
            threading.Event().wait(0.1)
    finally:
        stop.set()
        worker.join(60)
    assert not (tmp_path / "under-load.sqlite-wal").exists()
    events, _revision = backup.inspect_sqlite_file(str(out), expected_revision=None)  # integrity + audit chain
    assert events > 0
    conn = sqlite3.connect(f"file:{out}?mode=ro", uri=True)
    try:
        in_backup = {row[0] for row in conn.execute("SELECT id FROM checkouts WHERE asset_id = ?", (asset_id,))}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
    assert set(before) <= in_backup
    figure("online backup under load", acknowledged_before_backup=len(before), checkouts_in_backup=len(in_backup),
           audit_events_verified=events, wal_left=False)
