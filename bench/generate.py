#!/usr/bin/env python3
"""Generate a large, invariant-keeping registry database for the benchmarks (issue 8).

    .venv/bin/python bench/generate.py --db /tmp/perf/reg.sqlite                      # full size
    .venv/bin/python bench/generate.py --db /tmp/perf/small.sqlite --assets 10000 --people 2000 \
        --rooms 100 --checkouts 100000 --visits 20000                                 # 10 %
    .venv/bin/python bench/generate.py --db postgresql://postgres@127.0.0.1/reg_perf  # PostgreSQL

Defaults: 100,000 assets across kinds and levels, 20,000 people, 1,000 rooms, 1,000,000 checkouts
(two years of history, mostly returned), 200,000 visits (mostly exited) by visitors (visits/4).

The schema is built like tests/conftest.py `_create_schema` (create_all + append-only triggers +
flask_migrate.stamp). Bench accounts (bench/common.py BENCH_USERS) are created through the real
auth service; everything else goes in through model-level bulk inserts (`insert(Model)` with
executemany, large transactions). Invariants kept:
  * at most one open checkout per asset; an asset is `checked_out` iff it has exactly one;
    a person's loans never overlap for one asset; due_at >= out_at; returned => condition;
  * borrowers are eligible when they borrow (active, home nationality, clearance >= level,
    commitment letter for >= confidential, inside the need-to-know scope); >= secret loans carry
    their own used checkout approval decided by an approver who is not the borrower;
  * at most one open visit per visitor, escorts cleared for the room, escort groups <= room maximum,
    foreign visitors only in non-forbidden rooms of level <= internal with a permission covering the visit;
  * label codes random and unique (labels table + label_code / badge_code);
  * registry counters continue after the highest generated number;
  * one audit event per change, in time order, hashed with registry.core.audit.canonical_bytes /
    chain_hash, continuing the chain of the service-created accounts: `flask --app app audit verify` passes.
Prints the time taken per phase and in total.
"""

from __future__ import annotations

import argparse
import heapq
from json import dumps as _dumps
import os
import random
import secrets
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_USERS, PASSWORD, log, make_app, normalise_url, sqlite_path  # noqa: E402

import sqlalchemy as sa  # noqa: E402

UTC = timezone.utc
LOCAL = timezone(timedelta(hours=8))  # Asia/Shanghai (the default unit time zone; no DST)
DAY = 86400.0
LEVELS = ["unclassified", "internal", "confidential", "secret", "top_secret"]
LEVEL_W = [10, 30, 35, 20, 5]
RANK = {lv: i for i, lv in enumerate(LEVELS)}
CLEARANCE = {"core": 4, "important": 3, "general": 2, "none": 1}
KINDS = ["media", "computer", "storage", "equipment"]
KIND_W = [50, 15, 20, 15]
PREFIX = {"media": "ZT", "computer": "JSJ", "storage": "YD", "equipment": "SB"}
SUBTYPES = {"media": ["paper", "disc", "tape", "film"], "computer": ["laptop", "desktop", "server"],
            "storage": ["usb_flash", "external_disk", "memory_card"],
            "equipment": ["printer", "scanner", "copier", "camera", "instrument"]}
DUE_DAYS = {"top_secret": 0, "secret": 3, "confidential": 7, "internal": 30, "unclassified": 30}
SECRECY = {"top_secret": 30, "secret": 20, "confidential": 10}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "华", "平"]
TITLES = ["关于{}项目技术方案的报告", "{}型号设计图纸", "{}年度保密工作总结", "{}试验数据汇编", "{}会议纪要",
          "{}系统测试大纲", "{}采购合同附件"]
PURPOSES = ["项目评审", "技术研讨", "资料查阅", "外场试验", "报告编写", "设备检修"]
ORGS = ["Fraunhofer IIS", "Siemens AG", "Thales", "University of Oxford", "ETH Zürich", "Rolls-Royce plc"]
FOREIGN_NAT = ["DE", "FR", "GB", "CH", "IT", "JP"]
FIRST = ["Anna", "Jonas", "Marie", "Lukas", "Sophie", "Paul", "Emma", "Felix", "Claire", "Oliver"]
LAST = ["Müller", "Schmidt", "Dupont", "Martin", "Smith", "Rossi", "Tanaka", "Weber", "Meyer", "Bernard"]


def iso_from(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def end_of_local_day(ts: float, plus_days: int) -> float:
    local = datetime.fromtimestamp(ts, LOCAL)
    end = datetime(local.year, local.month, local.day, 23, 59, 59, tzinfo=LOCAL) + timedelta(days=plus_days)
    return max(end.timestamp(), ts)  # a loan in the day's last second is due that instant, never before


class Writer:
    """Buffers rows per table and writes them with executemany, parents first, in big transactions."""

    ORDER = ["persons", "rooms", "assets", "asset_scopes", "labels", "approvals", "checkouts", "security_events",
             "visitors", "area_permissions", "visits", "audit_events", "registry_counters"]

    def __init__(self, conn, tables, batch=20_000, commit_every=400_000):
        self.conn, self.tables, self.batch, self.commit_every = conn, tables, batch, commit_every
        self.buf = {name: [] for name in self.ORDER}
        self.count = {name: 0 for name in self.ORDER}
        self.since_commit = 0

    def add(self, name, row):
        b = self.buf[name]
        b.append(row)
        if len(b) >= self.batch:
            self.flush()

    def flush(self, final=False):
        for name in self.ORDER:
            rows = self.buf[name]
            if rows:
                self.conn.execute(sa.insert(self.tables[name]), rows)
                self.count[name] += len(rows)
                self.since_commit += len(rows)
                self.buf[name] = []
        if final or self.since_commit >= self.commit_every:
            self.conn.commit()
            self.since_commit = 0


class Chain:
    """The audit chain, continued from the current head (the bench accounts' events)."""

    CHECK_EVERY = 257  # every n-th event is also serialised by registry.core.audit.canonical_bytes itself

    def __init__(self, writer, seq, prev):
        from registry.core.audit import canonical_bytes, chain_hash

        self.w, self.seq, self.prev = writer, seq, prev
        self._canon, self._hash = canonical_bytes, chain_hash
        self.checked = 0

    def add(self, at: datetime, actor_id, actor, action, entity_type, entity_id, data, via="web", ip="10.20.0.15"):
        """`data` is built plain (ISO strings, no datetimes), so registry.core.audit.canonical_bytes'
        walk (_plain) is the identity on it: the same JSON (sorted keys, compact, UTF-8) is produced
        directly, and checked against canonical_bytes on every CHECK_EVERY-th event."""
        self.seq += 1
        fields = {"seq": self.seq, "at": at.isoformat(), "actor_id": actor_id, "actor": actor, "action": action,
                  "entity_type": entity_type, "entity_id": entity_id, "data": data, "ip": ip, "via": via}
        payload = _dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if self.seq % self.CHECK_EVERY == 0:
            ref = self._canon(seq=self.seq, at=at, actor_id=actor_id, actor=actor, action=action,
                              entity_type=entity_type, entity_id=entity_id, data=data, ip=ip, via=via)
            if ref != payload:
                raise AssertionError(f"canonical form differs at seq {self.seq}: {payload!r} != {ref!r}")
            self.checked += 1
        h = self._hash(self.prev, payload)
        self.w.add("audit_events", {"seq": self.seq, "at": at, "actor_id": actor_id, "actor": actor,
                                    "action": action, "entity_type": entity_type, "entity_id": entity_id,
                                    "data": data, "ip": ip, "via": via, "prev_hash": self.prev, "hash": h})
        self.prev = h


def build_schema(app, url):
    from registry.core.audit import install_append_only_triggers
    from registry.extensions import db

    with app.app_context():
        import registry.models_all  # noqa: F401

        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        db.create_all()
        with db.engine.begin() as conn:
            install_append_only_triggers(conn)
        from flask_migrate import stamp

        from registry.extensions import ensure_migrate

        ensure_migrate(app)
        stamp()


def create_accounts(app, staff_person_id):
    """The bench accounts, through the real service (hash, audit). Returns {username: id}."""
    from registry.auth import services
    from registry.extensions import db

    ids = {}
    with app.app_context():
        for name, role in BENCH_USERS.items():
            u = services.create_user(db.session, username=name, role=role, password=PASSWORD, actor=None,
                                     person_id=staff_person_id if role == "staff" else None)
            db.session.flush()
            ids[name] = u.id
        db.session.commit()
    return ids


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="SQLite file path or sqlite:///... / postgresql://... URL")
    ap.add_argument("--assets", type=int, default=100_000)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--rooms", type=int, default=1_000)
    ap.add_argument("--checkouts", type=int, default=1_000_000)
    ap.add_argument("--visits", type=int, default=200_000)
    ap.add_argument("--visitors", type=int, default=None, help="default: visits / 4")
    ap.add_argument("--refusals", type=int, default=None, help="security events (denials); default checkouts / 50")
    ap.add_argument("--days", type=int, default=730, help="length of the history")
    ap.add_argument("--seed", type=int, default=8)
    a = ap.parse_args(argv)
    url = normalise_url(a.db)
    rnd = random.Random(a.seed)
    n_visitors = a.visitors if a.visitors is not None else max(1, a.visits // 4)
    n_refusals = a.refusals if a.refusals is not None else a.checkouts // 50
    t_start = time.perf_counter()
    phases = []

    def phase(name, t0):
        phases.append((name, time.perf_counter() - t0))
        log(f"  {name}: {phases[-1][1]:.1f} s")

    path = sqlite_path(url)
    if path:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    log(f"generating into {url}: assets={a.assets} people={a.people} rooms={a.rooms} checkouts={a.checkouts} "
        f"visits={a.visits} visitors={n_visitors} refusals={n_refusals} days={a.days}")
    t0 = time.perf_counter()
    app = make_app(url, instance=f"/tmp/registry_bench_instance_gen_{os.getpid()}")
    build_schema(app, url)
    phase("schema", t0)

    from registry.extensions import db
    from registry.core import audit

    now_ts = time.time()
    start_ts = now_ts - a.days * DAY
    created_ts = start_ts - 30 * DAY  # registers were filled in during the month before the history

    # ---------------------------------------------------------------- people (in memory first)
    t0 = time.perf_counter()
    today = datetime.fromtimestamp(now_ts, LOCAL).date()
    depts = [f"第{i + 1:02d}研究室" for i in range(max(5, min(60, a.people // 300)))]
    cats = rnd.choices(["core", "important", "general", "none"], [10, 30, 40, 20], k=a.people)
    people = []  # (id, dept, clearance rank, active, foreign, commitment_ok)
    person_rows = []
    for i in range(a.people):
        pid = i + 1
        foreign = rnd.random() < 0.02
        status = "active" if i < 50 or rnd.random() < 0.95 else rnd.choice(["decommissioning", "left"])
        cat = cats[i] if not foreign else "none"
        signed = expires = None
        if cat != "none":
            signed = today - timedelta(days=rnd.randint(30, 900))
            expires = today + timedelta(days=rnd.randint(-60, 1000)) if rnd.random() < 0.97 else None
        ok_commit = signed is not None and (expires is None or expires >= today)
        dept = depts[i % len(depts)]
        ts = iso_from(created_ts + i * 0.5)
        person_rows.append({
            "id": pid, "name": rnd.choice(SURNAMES) + rnd.choice(GIVEN) + ("" if rnd.random() < 0.5 else rnd.choice(GIVEN)),
            "employee_no": f"E{pid:06d}", "department": dept, "position": rnd.choice(["工程师", "高级工程师", "研究员", "技术员", "主任"]),
            "nationality": rnd.choice(FOREIGN_NAT) if foreign else "CN", "category": cat,
            "commitment_signed_on": signed, "commitment_expires_on": expires, "status": status,
            "decommission_until": today + timedelta(days=200) if status == "decommissioning" else None,
            "left_on": today - timedelta(days=20) if status != "active" else None,
            "phone": f"1{rnd.randint(3000000000, 8999999999)}", "notes": "", "created_at": ts, "updated_at": ts})
        people.append((pid, dept, CLEARANCE[cat], status == "active", foreign, ok_commit))
    staff_pid = next(p[0] for p in people if p[3] and not p[4] and p[2] >= 3 and p[5])
    # eligible borrowers per level, and per (department, level) for scoped items
    eligible = {lv: [] for lv in LEVELS}
    eligible_dept = {}
    escorts = {lv: [] for lv in LEVELS}
    for pid, dept, rank, active, foreign, ok in people:
        if not active or foreign:
            continue
        for lv in LEVELS:
            if rank >= RANK[lv] and (RANK[lv] < 2 or ok):
                eligible[lv].append(pid)
                eligible_dept.setdefault((dept, lv), []).append(pid)
            if rank >= RANK[lv]:
                escorts[lv].append(pid)

    # ---------------------------------------------------------------- schema rows: accounts first
    with app.app_context():
        tables = {t.name: t for t in db.metadata.sorted_tables}
        conn = db.engine.connect()
        w = Writer(conn, tables)
        for r in person_rows:
            w.add("persons", r)
        w.flush(final=True)
        conn.close()
    users = create_accounts(app, staff_pid)
    officer_id, approver_id = users["bench_officer"], users["bench_approver"]
    guard_id = users["bench_guard"]
    phase(f"people ({a.people}) + accounts", t0)

    with app.app_context():
        seq, head = audit.head(db.session)
        db.session.commit()
        conn = db.engine.connect()
        w = Writer(conn, tables)
        chain = Chain(w, seq, head)
        t0 = time.perf_counter()
        for r in person_rows:  # person.create events (the rows were inserted above)
            chain.add(r["created_at"], None, "import", "person.create", "persons", r["id"],
                      {"after": {"employee_no": r["employee_no"], "name": r["name"], "category": r["category"],
                                 "department": r["department"], "status": r["status"]}}, via="cli", ip=None)
        del person_rows

        # ------------------------------------------------------------ rooms
        room_level, room_policy, room_max = [], [], []
        foreign_rooms = []
        for i in range(a.rooms):
            rid = i + 1
            lv = rnd.choices(LEVELS, [5, 30, 35, 25, 5])[0]
            policy = rnd.choices(["forbidden", "escorted", "open"], [30, 50, 20])[0]
            if RANK[lv] >= 3 and policy == "open":
                policy = "escorted"
            mx = rnd.choice([3, 5, 5, 8])
            room_level.append(lv)
            room_policy.append(policy)
            room_max.append(mx)
            if policy != "forbidden" and RANK[lv] <= 1:
                foreign_rooms.append(rid)
            ts = iso_from(created_ts + a.people * 0.5 + i)
            code = secrets.token_urlsafe(15)
            w.add("rooms", {"id": rid, "code": f"R-{rid:04d}", "name": f"{rnd.choice(['实验室', '机房', '档案室', '会议室', '测试间'])} {rid}",
                            "location": f"{rnd.choice('ABCDEFG')}栋 {rnd.randint(1, 12)}层", "level": lv,
                            "foreign_policy": policy, "max_visitors_per_escort": mx, "label_code": code,
                            "protection": "门禁、视频监控", "responsible_id": rnd.choice(escorts[lv]) if escorts[lv] else None,
                            "active": True, "created_at": ts, "updated_at": ts})
            w.add("labels", {"code": code, "target_type": "room", "target_id": rid, "issued_at": ts,
                             "issued_by": "import", "revoked_at": None, "revoked_reason": None})
            chain.add(ts, None, "import", "room.create", "rooms", rid,
                      {"after": {"code": f"R-{rid:04d}", "level": lv, "foreign_policy": policy}}, via="cli", ip=None)
        if not foreign_rooms:
            foreign_rooms = [1]
        phase(f"rooms ({a.rooms})", t0)

        # ------------------------------------------------------------ assets
        t0 = time.perf_counter()
        kinds = rnd.choices(KINDS, KIND_W, k=a.assets)
        levels = rnd.choices(LEVELS, LEVEL_W, k=a.assets)
        counters = {}
        asset_scope = [None] * (a.assets + 1)
        missing = set()
        reg_day = datetime.fromtimestamp(created_ts, LOCAL).date()
        year = reg_day.year
        for i in range(a.assets):
            aid = i + 1
            kind, lv = kinds[i], levels[i]
            n = counters.get(kind, 0) + 1
            counters[kind] = n
            years = SECRECY.get(lv)
            ts = iso_from(created_ts + a.people * 0.5 + a.rooms + i * 0.2)
            status = "available"
            if rnd.random() < 0.003:
                status = "missing"
                missing.add(aid)
            code = secrets.token_urlsafe(15)
            subtype = rnd.choice(SUBTYPES[kind])
            row = {"id": aid, "registry_no": f"{PREFIX[kind]}-{year}-{n:05d}", "kind": kind, "subtype": subtype,
                   "title": rnd.choice(TITLES).format(rnd.choice(["天网", "北斗", "长城", "星河", "海燕", "雷霆"]) + str(aid % 97)),
                   "level": lv, "secrecy_years": years,
                   "declassify_on": reg_day.replace(year=reg_day.year + years) if years else None,
                   "custodian_id": rnd.choice(escorts[lv]) if escorts[lv] else None,
                   "room_id": rnd.randint(1, a.rooms) if a.rooms else None, "status": status,
                   "serial_no": f"SN{rnd.randint(10**9, 10**10 - 1)}" if kind != "media" else "",
                   "model": rnd.choice(["ThinkPad X1", "HP Z2", "Kingston DT", "Canon iR", ""]) if kind != "media" else "",
                   "doc_no": f"〔{year}〕{aid % 1000}号" if kind == "media" else "",
                   "originator": rnd.choice(depts) if kind == "media" else "",
                   "pages": rnd.randint(1, 300) if kind == "media" else None,
                   "copies": rnd.randint(1, 5) if kind == "media" else None,
                   "copy_no": 1 if kind == "media" else None, "original_id": None,
                   "hdd_serial": f"WD-{rnd.randint(10**7, 10**8 - 1)}" if kind == "computer" else "",
                   "mac": "00:1a:2b:%02x:%02x:%02x" % (aid % 256, (aid >> 8) % 256, (aid >> 16) % 256) if kind == "computer" else "",
                   "network": rnd.choice(["classified", "standalone", "intranet"]) if kind == "computer" else None,
                   "os": "Kylin V10" if kind == "computer" else "", "ip": f"10.1.{aid % 250}.{aid % 200 + 1}" if kind == "computer" else "",
                   "capacity": rnd.choice(["32 GB", "64 GB", "1 TB"]) if kind == "storage" else "",
                   "foreign_supplied": False, "label_code": code, "notes": "", "registered_on": reg_day,
                   "created_at": ts, "updated_at": ts}
            w.add("assets", row)
            w.add("labels", {"code": code, "target_type": "asset", "target_id": aid, "issued_at": ts,
                             "issued_by": "import", "revoked_at": None, "revoked_reason": None})
            scope = None
            if rnd.random() < 0.05:
                scope = rnd.choice(depts)
                asset_scope[aid] = scope
                w.add("asset_scopes", {"asset_id": aid, "department": scope, "person_id": None})
            chain.add(ts, officer_id, "bench_officer", "asset.create", "assets", aid, {"after": {
                "registry_no": row["registry_no"], "kind": kind, "status": "available", "level": lv, "title": row["title"],
                "custodian_id": row["custodian_id"], "room_id": row["room_id"],
                "scope": {"departments": [scope] if scope else [], "person_ids": []}}})
            if status == "missing":
                chain.add(iso_from(created_ts + DAY * 20 + i * 0.01), officer_id, "bench_officer", "asset.status",
                          "assets", aid, {"before": {"status": "available"}, "after": {"status": "missing"}, "note": ""})
        for kind, n in counters.items():
            w.add("registry_counters", {"kind": kind, "year": year, "last": n})
        w.flush(final=True)
        phase(f"assets ({a.assets}) + labels + scopes", t0)

        # ------------------------------------------------------------ history: day by day, in time order
        t0 = time.perf_counter()
        busy_until = [0.0] * (a.assets + 1)
        per_day_co = a.checkouts / a.days
        per_day_ref = n_refusals / a.days
        # visitors: window of 1-4 days, visits spread over it
        visitor_days = {}
        vis_rows_by_day = [[] for _ in range(a.days + 1)]
        per_visitor = a.visits / max(1, n_visitors)
        assigned = 0
        vinfo = []
        for v in range(n_visitors):
            vid = v + 1
            span = rnd.randint(0, 3)
            first = rnd.randint(0, max(0, a.days - span))
            nvis = int(per_visitor) + (1 if rnd.random() < per_visitor - int(per_visitor) else 0)
            if v == n_visitors - 1:
                nvis = max(0, a.visits - assigned)
            nvis = min(nvis, a.visits - assigned)
            assigned += nvis
            foreign = rnd.random() < 0.7
            vinfo.append((first, span, foreign))
            for k in range(nvis):
                d = first + (k % (span + 1))
                vis_rows_by_day[d].append((vid, k // (span + 1)))
            visitor_days[vid] = (first, span)
        co_id = ap_id = se_id = visit_id = perm_id = 0
        pending = []  # heap of (time, tiebreak, kind, payload)
        tie = 0
        open_escort = {}  # (escort, room) -> open visits (only the last day can leave visits open)
        visitors_created = set()
        perm_of = {}  # (visitor, room) -> permission id
        co_open = 0
        for day in range(a.days + 1):
            day_ts = start_ts + day * DAY
            day_end = min(day_ts + DAY, now_ts)
            events = []
            # new checkouts
            n_co = int(per_day_co * (day + 1)) - int(per_day_co * day) if day < a.days else 0
            for _ in range(n_co):
                t = day_ts + rnd.uniform(0.0, DAY)
                if t >= now_ts:
                    continue
                for _try in range(30):
                    aid = rnd.randint(1, a.assets)
                    if aid not in missing and busy_until[aid] <= t:
                        break
                else:
                    continue
                lv = levels[aid - 1]
                scope = asset_scope[aid]
                pool = eligible_dept.get((scope, lv)) if scope else eligible[lv]
                if not pool:
                    continue
                borrower = rnd.choice(pool)
                due = end_of_local_day(t, DUE_DAYS[lv])
                r = rnd.random()
                if lv == "top_secret":
                    ret = t + rnd.uniform(0.05, 0.3) * DAY
                    ret = min(ret, due)
                elif r < 0.03:
                    ret = due + rnd.uniform(0.1, 5) * DAY  # returned late
                else:
                    ret = t + (due - t) * rnd.uniform(0.05, 0.95)
                busy_until[aid] = ret + 60 if ret < now_ts else float("inf")
                events.append((t, "co", (aid, lv, borrower, due, ret)))
            # refusals (security events)
            n_ref = int(per_day_ref * (day + 1)) - int(per_day_ref * day) if day < a.days else 0
            for _ in range(n_ref):
                t = day_ts + rnd.uniform(0.0, DAY)
                if t < now_ts:
                    events.append((t, "ref", (rnd.randint(1, a.assets), rnd.choice(["clearance_insufficient", "approval_required", "asset_unavailable", "commitment_missing", "not_in_scope"]))))
            # visits of the day
            for vid, k in vis_rows_by_day[day]:
                first, span, foreign = vinfo[vid - 1]
                t = day_ts + 3600 * (1 + 2.5 * k) + rnd.uniform(0, 3600)
                if t >= now_ts:
                    continue
                events.append((t, "visit", (vid, foreign)))
            # due ends (checkins, exits) that fall into this day
            while pending and pending[0][0] < day_end:
                t_end, _tie, kind_end, payload_end = heapq.heappop(pending)
                events.append((t_end, kind_end, payload_end))
            events.sort(key=lambda e: e[0])
            for t, kind, payload in events:
                at = iso_from(t)
                if kind == "co":
                    aid, lv, borrower, due, ret = payload
                    co_id += 1
                    approval = None
                    if RANK[lv] >= 3:
                        ap_id += 1
                        approval = ap_id
                        req_at = iso_from(t - 7200)
                        dec_at = iso_from(t - 3600)
                        w.add("approvals", {"id": ap_id, "kind": "checkout", "status": "used", "asset_id": aid,
                                            "borrower_id": borrower, "visitor_id": None, "room_id": None,
                                            "provision_id": None, "asset_ids": None, "purpose": rnd.choice(PURPOSES),
                                            "details": None, "requested_by": officer_id, "requested_at": req_at,
                                            "decided_by": approver_id, "decided_at": dec_at, "reason": "同意",
                                            "used_at": at, "used_for": f"checkouts#{co_id}", "cancelled_at": None})
                        chain.add(dec_at, approver_id, "bench_approver", "approval.decide", "approvals", ap_id,
                                  {"before": {"status": "pending"}, "after": {"status": "approved"}, "reason": "同意"})
                    returned = ret < now_ts
                    purpose = rnd.choice(PURPOSES)
                    w.add("checkouts", {"id": co_id, "asset_id": aid, "borrower_id": borrower, "purpose": purpose,
                                        "out_at": at, "due_at": iso_from(due), "handled_by": officer_id,
                                        "approval_id": approval, "device_id": None, "self_service": False,
                                        "batch": None, "returned_at": iso_from(ret) if returned else None,
                                        "received_by": officer_id if returned else None,
                                        "condition": "intact" if returned else None, "note": "",
                                        "overdue_reported_at": None})
                    chain.add(at, officer_id, "bench_officer", "asset.checkout", "assets", aid, {
                        "checkout_id": co_id, "borrower": f"E{borrower:06d}", "borrower_id": borrower,
                        "purpose": purpose, "due_at": iso_from(due).isoformat(), "approval_id": approval, "device": None,
                        "self_service": False, "batch": None})
                    if approval:
                        chain.add(at, officer_id, "bench_officer", "approval.use", "approvals", approval,
                                  {"used_for": f"checkouts#{co_id}"})
                    if returned:
                        tie += 1
                        heapq.heappush(pending, (ret, tie, "ci", (aid, co_id, borrower, due)))
                    else:
                        co_open += 1
                elif kind == "ci":
                    aid, cid, borrower, due = payload
                    chain.add(at, officer_id, "bench_officer", "asset.checkin", "assets", aid, {
                        "checkout_id": cid, "borrower_id": borrower, "condition": "intact", "note": "",
                        "overdue": due < t})
                elif kind == "ref":
                    aid, reason = payload
                    se_id += 1
                    subject = f"asset #{aid}"
                    w.add("security_events", {"id": se_id, "at": at, "kind": "checkout_denied", "reason": reason,
                                              "actor_id": officer_id, "actor": "bench_officer",
                                              "subject_type": "assets", "subject_id": aid, "subject": subject,
                                              "details": None, "ip": "10.20.0.15"})
                    chain.add(at, officer_id, "bench_officer", "security.checkout_denied", "security_events", se_id,
                              {"reason": reason, "subject": subject, "details": None})
                elif kind == "visit":
                    vid, foreign = payload
                    first, span = visitor_days[vid]
                    if vid not in visitors_created:
                        visitors_created.add(vid)
                        c_at = iso_from(start_ts + first * DAY - 2 * 3600)
                        badge = secrets.token_urlsafe(15)
                        nat = rnd.choice(FOREIGN_NAT) if foreign else "CN"
                        name = f"{rnd.choice(FIRST)} {rnd.choice(LAST)}" if foreign else rnd.choice(SURNAMES) + rnd.choice(GIVEN)
                        arr = datetime.fromtimestamp(start_ts + first * DAY, LOCAL).date()
                        w.add("visitors", {"id": vid, "name": name, "name_alt": "", "nationality": nat,
                                           "id_doc_type": "passport" if foreign else "national_id",
                                           "id_doc_no": f"P{vid:09d}" if foreign else f"1101{vid:014d}",
                                           "organization": rnd.choice(ORGS) if foreign else "兄弟单位",
                                           "position": "", "purpose": rnd.choice(PURPOSES),
                                           "host_id": rnd.choice(escorts["internal"]), "project_id": None,
                                           "arrives_on": arr, "departs_on": arr + timedelta(days=span + 1),
                                           "badge_code": badge, "blocked": False, "blocked_reason": "",
                                           "blocked_at": None, "blocked_by": "", "notes": "",
                                           "created_at": c_at, "updated_at": c_at})
                        w.add("labels", {"code": badge, "target_type": "visitor", "target_id": vid, "issued_at": c_at,
                                         "issued_by": "bench_officer", "revoked_at": None, "revoked_reason": None})
                        chain.add(c_at, officer_id, "bench_officer", "visitor.create", "visitors", vid,
                                  {"after": {"name": name, "nationality": nat, "organization": ""}})
                    room = rnd.choice(foreign_rooms) if foreign else rnd.randint(1, a.rooms)
                    lv = room_level[room - 1]
                    policy = room_policy[room - 1]
                    perm = None
                    if policy != "open":
                        key = (vid, room)
                        perm = perm_of.get(key)
                        if perm is None:
                            perm_id += 1
                            perm = perm_of[key] = perm_id
                            g_at = iso_from(start_ts + first * DAY - 3600)
                            w.add("area_permissions", {"id": perm, "visitor_id": vid, "room_id": room,
                                                       "valid_from": g_at,
                                                       "valid_until": iso_from(start_ts + (first + span + 1) * DAY),
                                                       "escort_required": True, "approval_id": None, "note": "",
                                                       "granted_by": "bench_officer", "created_at": g_at,
                                                       "revoked_at": None, "revoked_by": "", "revoke_reason": ""})
                            chain.add(g_at, officer_id, "bench_officer", "permission.grant", "area_permissions", perm,
                                      {"visitor_id": vid, "room": f"R-{room:04d}"})
                    escort = rnd.choice(escorts[lv]) if policy != "open" or rnd.random() < 0.5 else None
                    leave = t + rnd.uniform(0.3, 2.2) * 3600
                    exited = leave < now_ts
                    if not exited:
                        if escort is not None and open_escort.get((escort, room), 0) >= room_max[room - 1]:
                            leave = now_ts - 1  # keep the group limit: this one already left
                            exited = True
                        elif escort is not None:
                            open_escort[(escort, room)] = open_escort.get((escort, room), 0) + 1
                    visit_id += 1
                    devices = [{"kind": "phone", "disposition": "deposited", "note": ""}] if rnd.random() < 0.6 else []
                    w.add("visits", {"id": visit_id, "visitor_id": vid, "room_id": room, "escort_id": escort,
                                     "permission_id": perm, "entered_at": at,
                                     "exited_at": iso_from(leave) if exited else None, "logged_by_id": guard_id,
                                     "logged_by": "bench_guard", "exit_logged_by": "bench_guard" if exited else "",
                                     "devices": devices, "note": ""})
                    chain.add(at, guard_id, "bench_guard", "visit.enter", "visits", visit_id, {
                        "visitor_id": vid, "room": f"R-{room:04d}", "entered_at": at.isoformat(),
                        "escort": f"E{escort:06d}" if escort else None, "permission_id": perm, "devices": devices})
                    if exited:
                        tie += 1
                        heapq.heappush(pending, (leave, tie, "exit", (vid, visit_id, room, t, devices)))
                elif kind == "exit":
                    vid, vis, room, t_in, devices = payload
                    chain.add(at, guard_id, "bench_guard", "visit.exit", "visits", vis, {
                        "visitor_id": vid, "room": f"R-{room:04d}", "entered_at": iso_from(t_in).isoformat(), "exited_at": at.isoformat(),
                        "deposited_returned": [d for d in devices if d["disposition"] == "deposited"]})
            if day % 60 == 0:
                log(f"    day {day}/{a.days}: checkouts {co_id}, visits {visit_id}, audit seq {chain.seq}, "
                    f"{time.perf_counter() - t0:.0f} s")
        # assets with an open checkout are checked out (status written in one statement per chunk)
        w.flush(final=True)
        open_ids = [i for i in range(1, a.assets + 1) if busy_until[i] == float("inf")]
        assets_t = tables["assets"]
        for k in range(0, len(open_ids), 5000):
            conn.execute(assets_t.update().where(assets_t.c.id.in_(open_ids[k:k + 5000])).values(status="checked_out"))
        conn.commit()
        phase(f"history ({co_id} checkouts, {co_open} open; {visit_id} visits; {se_id} refusals; {ap_id} approvals; "
              f"{chain.seq} audit events)", t0)

        # ------------------------------------------------------------ sequences, statistics, checks
        t0 = time.perf_counter()
        if url.startswith("postgresql"):
            for name in ("persons", "rooms", "assets", "asset_scopes", "labels", "approvals", "checkouts",
                         "security_events", "visitors", "area_permissions", "visits"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                     f"GREATEST((SELECT max(id) FROM {name}), 1))")
            conn.commit()
        conn.close()
    # ANALYZE outside a transaction
    engine = sa.create_engine(url)
    with engine.connect() as c:
        c = c.execution_options(isolation_level="AUTOCOMMIT")
        c.exec_driver_sql("ANALYZE")
    engine.dispose()
    with app.app_context():
        s = db.session
        checks = {
            "double open checkouts": s.execute(sa.text(
                "SELECT count(*) FROM (SELECT asset_id FROM checkouts WHERE returned_at IS NULL "
                "GROUP BY asset_id HAVING count(*) > 1) x")).scalar(),
            "checked_out without open checkout": s.execute(sa.text(
                "SELECT count(*) FROM assets a WHERE a.status = 'checked_out' AND NOT EXISTS "
                "(SELECT 1 FROM checkouts c WHERE c.asset_id = a.id AND c.returned_at IS NULL)")).scalar(),
            "open checkout on a non-checked_out asset": s.execute(sa.text(
                "SELECT count(*) FROM checkouts c JOIN assets a ON a.id = c.asset_id "
                "WHERE c.returned_at IS NULL AND a.status <> 'checked_out'")).scalar(),
            "double open visits": s.execute(sa.text(
                "SELECT count(*) FROM (SELECT visitor_id FROM visits WHERE exited_at IS NULL "
                "GROUP BY visitor_id HAVING count(*) > 1) x")).scalar(),
            "duplicate label codes": s.execute(sa.text(
                "SELECT count(*) - count(DISTINCT code) FROM labels")).scalar(),
        }
        counts = {t: s.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in (
            "persons", "rooms", "assets", "labels", "checkouts", "approvals", "visitors", "area_permissions",
            "visits", "security_events", "audit_events")}
        s.commit()
    phase("analyze + invariant checks", t0)
    total = time.perf_counter() - t_start
    log("counts: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    log("invariants: " + ", ".join(f"{k} = {v}" for k, v in checks.items()))
    bad = {k: v for k, v in checks.items() if v}
    log(f"TOTAL {total:.1f} s for {sum(counts.values())} rows ({sum(counts.values()) / total:.0f} rows/s)")
    if bad:
        log(f"INVARIANTS BROKEN: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
