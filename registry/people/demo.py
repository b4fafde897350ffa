"""Demo data for personnel: training records, secrecy reminders (acknowledged and not), a person in the
decommissioning period, one who left, and a refused leaving (清退: the person still holds items).
Runs after the custody demo (it needs checked-out items)."""

from __future__ import annotations

from datetime import timedelta

from registry.core.errors import RuleViolation
from registry.core.models import Category
from registry.core.security_events import record_security_event
from registry.people import services


def demo_step(session, ctx: dict) -> None:
    today = ctx["today"]
    people, users = ctx["people"], ctx["users"]
    officer = users["officer"]
    # annual secrecy training (a few people have none in the last 12 months: refresher due)
    for no, days, course, hours in (
            ("E1001", 120, "保密管理干部培训班", 16), ("E1002", 200, "年度保密教育培训", 4),
            ("E1004", 90, "年度保密教育培训", 4), ("E1005", 95, "涉密载体管理专题培训", 2),
            ("E1006", 30, "涉密信息系统安全保密培训", 8), ("E1010", 400, "年度保密教育培训", 4),
            ("E1011", 60, "岗前保密教育培训", 4)):
        services.add_training(session, people[no], {"date": today - timedelta(days=days), "course": course,
                                                    "hours": hours}, actor=officer)
    # foreign-exchange secrecy reminders: one waiting for E1003 (the demo staff account) to acknowledge
    services.add_reminder(session, people["E1003"], {
        "date": today - timedelta(days=2), "occasion": "trip", "given_by": people["E1001"].id,
        "description": "赴德国斯图加特参加联合试验技术交流", "acknowledged": False}, actor=officer)
    services.add_reminder(session, people["E1008"], {
        "date": today - timedelta(days=5), "occasion": "hosting", "given_by": people["E1001"].id,
        "description": "接待德方合作单位来访（风洞试验项目）", "acknowledged": False}, actor=officer)
    r = services.add_reminder(session, people["E1002"], {
        "date": today - timedelta(days=40), "occasion": "conference", "given_by": people["E1001"].id,
        "description": "出席国际空气动力学会议（新加坡）", "acknowledged": False}, actor=officer)
    services.acknowledge_reminder(session, r, actor=users["approver"])
    # someone in the decommissioning period (脱密期), and someone who has left
    home = "CN"
    leaving = services.create_person(session, {
        "name": "钱进", "employee_no": "E1201", "department": "第一研究室", "position": "工程师", "nationality": "CN",
        "category": Category.IMPORTANT, "commitment_signed_on": today - timedelta(days=700),
        "commitment_expires_on": today + timedelta(days=400), "status": "active", "decommission_until": None,
        "phone": "", "notes": "调往兄弟单位"}, actor=officer)
    services.leave(session, leaving, actor=officer, home_country=home, today=today,
                   left_on=today - timedelta(days=30), decommission_until=today + timedelta(days=700))
    left = services.create_person(session, {
        "name": "冯雪", "employee_no": "E1202", "department": "综合办公室", "position": "文员", "nationality": "CN",
        "category": Category.GENERAL, "commitment_signed_on": today - timedelta(days=1500),
        "commitment_expires_on": today + timedelta(days=100), "status": "active", "decommission_until": None,
        "phone": "", "notes": ""}, actor=officer)
    services.leave(session, left, actor=officer, home_country=home, today=today, left_on=today - timedelta(days=200))
    # 清退 refused: 张伟 (E1003) still holds items, so he cannot be marked as left
    try:
        with session.begin_nested():
            services.leave(session, people["E1003"], actor=officer, home_country=home, today=today)
    except RuleViolation as exc:
        record_security_event(session, kind=exc.event_kind, actor=officer, reason=exc.code, subject=people["E1003"],
                              details=exc.details)
    ctx["people"]["E1201"], ctx["people"]["E1202"] = leaving, left
