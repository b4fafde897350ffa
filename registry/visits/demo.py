"""Demo data for visitors: cooperation projects in every review state, foreign (German, Japanese,
Hong Kong, US, French) and domestic visitors with and without area permissions (approvals where
the rules ask for them), a blocked visitor, people inside now with their escorts and deposited
phones, a finished visit, and refused entries in the security events. Adds ctx["projects"] and
ctx["visitors"] for later steps."""

from __future__ import annotations

from datetime import timedelta

from registry.approvals import services as approvals
from registry.cooperation import services as projects
from registry.core.models import utcnow
from registry.core.security_events import record_security_event
from registry.visits import services

PROJECTS = [
    # key, name, partner, country, department, status, reviewer, days ago, conclusion
    ("dlr", "中德高速风洞联合试验", "Deutsches Zentrum für Luft- und Raumfahrt (DLR)", "DE", "第二研究室", "conditional",
     "E1001", 110, "仅可提供经脱密处理的试验数据；外方人员只可进入涉外会议室，全程陪同。"),
    ("jaxa", "中日材料老化联合研究", "Japan Aerospace Exploration Agency (JAXA)", "JP", "第一研究室", "passed",
     "E1001", 60, "合作内容不涉及国家秘密，同意开展；参观第一研究室实验室须审批并陪同。"),
    ("onera", "中法复合材料联合研究", "ONERA", "FR", "第一研究室", "pending", None, None, ""),
    ("meridian", "海外咨询公司数据服务项目", "Meridian Data Consulting Ltd", "US", "综合办公室", "rejected",
     "E1001", 200, "涉及测绘成果和基础数据，不得对外提供，不同意开展合作。"),
]

VISITORS = [
    # key, name, alt name, nationality, doc type, doc no, organisation, position, purpose, host, project,
    # arrives (days from today), departs
    ("becker", "Klaus Becker", "克劳斯·贝克尔", "DE", "passport", "C4F7K2L91", "DLR Köln", "Senior Engineer",
     "风洞试验数据比对会议", "E1004", "dlr", -1, 3),
    ("vogel", "Miriam Vogel", "米里亚姆·福格尔", "DE", "passport", "C8RT5Z2M4", "DLR Göttingen", "Project Manager",
     "风洞试验数据比对会议", "E1004", "dlr", -1, 3),
    ("sato", "佐藤健一", "Kenichi Sato", "JP", "passport", "TR2846135", "JAXA", "主任研究员",
     "材料老化试验交流", "E1003", "jaxa", 0, 2),
    ("chan", "陈嘉明", "CHAN Ka Ming", "HK", "hk_macau_permit", "H60218833", "香港理工大学", "副教授",
     "学术交流", "E1008", None, 0, 1),
    ("liu", "刘志强", "", "CN", "national_id", "110105198203150417", "某电子设备有限公司", "维修工程师",
     "涉密机房空调设备维修", "E1006", None, 0, 0),
    ("wang", "王芳", "", "CN", "national_id", "320102197906082126", "上级主管部门", "处长",
     "保密工作检查", "E1001", None, 0, 0),
    ("hale", "Robert Hale", "罗伯特·黑尔", "US", "passport", "586104227", "Meridian Data Consulting Ltd",
     "Consultant", "商务洽谈", "E1007", "meridian", 0, 1),
    ("laurent", "Émilie Laurent", "埃米莉·洛朗", "FR", "passport", "19AB40572", "ONERA", "Ingénieure de recherche",
     "复合材料合作洽谈", "E1002", "onera", 5, 7),
]


def demo_step(session, ctx: dict) -> None:
    today, people, rooms, users = ctx["today"], ctx["people"], ctx["rooms"], ctx["users"]
    officer, approver, guard = users["officer"], users["approver"], users["guard"]
    now = utcnow()
    from datetime import datetime as _dt, time as _time, timezone as _tz
    from zoneinfo import ZoneInfo

    from registry.core.settings import get_settings

    # entries "n minutes ago" never before the unit's midnight: a visitor's window is a local date
    day_start = _dt.combine(today, _time.min, tzinfo=ZoneInfo(get_settings()["timezone"] or "UTC")).astimezone(_tz.utc)

    def at_least_today(**delta):
        return max(now - timedelta(**delta), min(day_start, now))

    made_projects = {}
    for key, name, partner, country, dept, status, reviewer, ago, conclusion in PROJECTS:
        made_projects[key] = projects.create_project(session, {
            "name": name, "partner": partner, "partner_country": country, "department": dept,
            "description": "", "starts_on": today - timedelta(days=(ago or 0) + 10) if ago else today + timedelta(days=30),
            "ends_on": today + timedelta(days=365), "review_status": status,
            "reviewed_by": people[reviewer].id if reviewer else None,
            "reviewed_on": today - timedelta(days=ago) if ago else None, "conclusion": conclusion}, actor=officer)
    ctx["projects"] = made_projects

    visitors = {}
    for key, name, alt, nat, doc_type, doc_no, org, pos, purpose, host, project, arrives, departs in VISITORS:
        visitors[key] = services.create_visitor(session, {
            "name": name, "name_alt": alt, "nationality": nat, "id_doc_type": doc_type, "id_doc_no": doc_no,
            "organization": org, "position": pos, "purpose": purpose, "host_id": people[host].id,
            "project_id": made_projects[project].id if project else None,
            "arrives_on": today + timedelta(days=arrives), "departs_on": today + timedelta(days=departs),
            "blocked": False, "blocked_reason": "", "notes": ""}, actor=officer)
    ctx["visitors"] = visitors
    services.block_visitor(session, visitors["hale"], "2025年来访期间在走廊拍照，经保密委员会决定列入禁止名单。",
                           actor=officer, now=now - timedelta(days=40))

    def permit(key, room_code, *, days=3, approve=False):
        visitor, room = visitors[key], rooms[room_code]
        if approve:
            a = approvals.request_approval(session, kind="area_permission", actor=officer,
                                           purpose=f"{visitor.name} 进入{room.name}", visitor_id=visitor.id,
                                           room_id=room.id)
            approvals.decide(session, a, decision="approved", reason="同意，全程陪同。", actor=approver)
        return services.grant_permission(session, visitor, room, {
            "valid_from": now - timedelta(hours=3), "valid_until": now + timedelta(days=days),
            "escort_required": True, "note": ""}, actor=officer, now=now - timedelta(hours=3))

    permit("becker", "HYS-302", approve=True)
    permit("vogel", "HYS-302", approve=True)
    permit("sato", "SYS-301", days=2, approve=True)
    permit("chan", "HYS-302", days=1, approve=True)
    permit("liu", "JF-201", days=1)
    # a pending approval for the inbox: the French visitor's project has not passed its review,
    # so no permission can be given yet (project_review_pending)

    phone = [{"kind": "phone", "disposition": "deposited", "note": ""}]
    services.enter(session, visitors["becker"], rooms["HYS-302"], escort=people["E1004"], devices=phone,
                   actor=guard, now=at_least_today(minutes=95))
    services.enter(session, visitors["vogel"], rooms["HYS-302"], escort=people["E1004"],
                   devices=phone + [{"kind": "laptop", "disposition": "carried", "note": "已登记，未联网"}],
                   actor=guard, now=at_least_today(minutes=93))
    services.enter(session, visitors["liu"], rooms["JF-201"], escort=people["E1002"],
                   devices=phone + [{"kind": "laptop", "disposition": "carried", "note": "维修用笔记本，已检查"}],
                   actor=guard, now=at_least_today(minutes=40))
    services.enter(session, visitors["wang"], rooms["JD-001"], actor=guard, now=at_least_today(minutes=20))
    sato = services.enter(session, visitors["sato"], rooms["SYS-301"], escort=people["E1003"], devices=phone,
                          actor=guard, now=at_least_today(minutes=150))
    services.exit_visit(session, sato, actor=guard, now=at_least_today(minutes=70))

    # refusals at the door, as the guard station records them
    for key, room_code, reason in (("chan", "JF-201", "room_forbidden_for_foreigners"),
                                   ("hale", "JD-001", "visitor_blocked")):
        record_security_event(session, kind="entry_denied", actor=guard, reason=reason, subject=visitors[key],
                              details={"room": room_code})
