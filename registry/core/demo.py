"""Realistic bilingual demo data. Each domain appends a step (a callable (session, ctx) -> None)."""

from __future__ import annotations

from datetime import date, timedelta

from registry.areas import services as rooms
from registry.auth import services as accounts
from registry.core.models import Category, Level
from registry.people import services as people

DEMO_PASSWORD = "demo-passphrase-2026"

DEMO_STEPS: list = []

# Domains add their demo module here ("registry.<domain>.demo"); each defines demo_step(session, ctx).
# Order matters: later steps use what earlier ones created (ctx["people"], ctx["rooms"], ctx["users"] …).
DEMO_MODULES: list[str] = [
    "registry.assets.demo",
    "registry.people.demo",
    "registry.stocktake.demo",
    "registry.visits.demo",
    "registry.cooperation.provision_demo",
]

PEOPLE = [
    # name, employee_no, department, position, nationality, category
    ("王建国", "E1001", "保密办公室", "保密办主任", "CN", "core"),
    ("李明", "E1002", "第一研究室", "高级工程师", "CN", "core"),
    ("张伟", "E1003", "第一研究室", "工程师", "CN", "important"),
    ("刘洋", "E1004", "第二研究室", "研究员", "CN", "important"),
    ("陈静", "E1005", "第二研究室", "助理研究员", "CN", "general"),
    ("杨帆", "E1006", "信息中心", "网络管理员", "CN", "general"),
    ("赵磊", "E1007", "综合办公室", "文员", "CN", "none"),
    ("孙丽", "E1008", "外事办公室", "外事专员", "CN", "general"),
    ("周强", "E1009", "保卫处", "门卫班长", "CN", "none"),
    ("吴芳", "E1010", "第一研究室", "技术员", "CN", "general"),
    ("Anna Schmidt", "E2001", "合作项目组", "Visiting engineer", "DE", "none"),
    ("郑浩", "E1011", "第二研究室", "工程师", "CN", "important"),
]

ROOMS = [
    # code, name, location, level, policy, max per escort
    ("BMS-101", "保密室", "主楼 1F", "top_secret", "forbidden", 1),
    ("JF-201", "涉密机房", "主楼 2F", "secret", "forbidden", 2),
    ("SYS-301", "第一研究室实验室", "科研楼 3F", "secret", "escorted", 3),
    ("HYS-302", "涉外会议室", "科研楼 3F", "confidential", "escorted", 5),
    ("DA-105", "档案室", "主楼 1F", "confidential", "escorted", 2),
    ("BGS-110", "综合办公室", "主楼 1F", "internal", "open", 5),
    ("JD-001", "接待大厅", "主楼 1F", "unclassified", "open", 10),
]

USERS = [
    ("admin", "admin", None), ("officer", "officer", "E1001"), ("approver", "approver", "E1002"),
    ("staff", "staff", "E1003"), ("staff2", "staff", "E1005"), ("guard", "guard", "E1009"),
    ("inspector", "inspector", None),
]


def base_step(session, ctx: dict) -> None:
    today = ctx["today"]
    actor = None
    by_no = {}
    for i, (name, no, dept, pos, nat, cat) in enumerate(PEOPLE):
        signed = today - timedelta(days=300 + 20 * i) if cat != "none" else None
        expires = (signed + timedelta(days=365 * 2)) if signed else None
        if no == "E1010":
            expires = today + timedelta(days=12)  # expiring soon
        if no == "E1004":
            expires = today - timedelta(days=3)  # expired: checkout of confidential+ refused
        p = people.create_person(session, {
            "name": name, "employee_no": no, "department": dept, "position": pos, "nationality": nat,
            "category": Category(cat), "commitment_signed_on": signed, "commitment_expires_on": expires,
            "status": "active", "decommission_until": None, "phone": f"010-6800{i:04d}", "notes": ""}, actor=actor)
        by_no[no] = p
    ctx["people"] = by_no
    room_map = {}
    for code, name, loc, level, policy, maxv in ROOMS:
        room_map[code] = rooms.create_room(session, {
            "code": code, "name": name, "location": loc, "level": Level(level), "foreign_policy": policy,
            "max_visitors_per_escort": maxv, "protection": "门禁、视频监控、手机屏蔽柜" if level in ("secret", "top_secret") else "",
            "responsible_id": by_no["E1001"].id}, actor=actor)
    ctx["rooms"] = room_map
    for code in ("BMS-101", "JF-201"):
        for no in ("E1001", "E1002"):
            rooms.grant_access(session, room_map[code], by_no[no], actor=actor)
    for no in ("E1001", "E1002", "E1003", "E1010"):
        rooms.grant_access(session, room_map["SYS-301"], by_no[no], actor=actor)
    users = {}
    for username, role, person_no in USERS:
        users[username] = accounts.create_user(session, username=username, role=role, password=DEMO_PASSWORD,
                                               actor=None, person_id=by_no[person_no].id if person_no else None)
    ctx["users"] = users
    people.add_training(session, by_no["E1003"], {"date": today - timedelta(days=60), "course": "岗前保密教育培训",
                                                  "hours": 4}, actor=actor)
    people.add_reminder(session, by_no["E1004"], {"date": today - timedelta(days=10), "occasion": "conference",
                                                  "given_by": by_no["E1001"].id, "description": "赴德国参加国际会议",
                                                  "acknowledged": True}, actor=actor)


DEMO_STEPS.append(base_step)


def load_demo(session, today: date | None = None) -> dict:
    from importlib import import_module

    from registry.people.services import unit_today

    ctx: dict = {"today": today or unit_today()}  # the unit's date, as the rules use
    steps = list(DEMO_STEPS) + [import_module(m).demo_step for m in DEMO_MODULES]
    for step in steps:
        step(session, ctx)
    return ctx
