"""Demo data for custody: items of every kind and level, checkouts in every state (open, overdue,
returned intact and damaged, refused), pending and approved approvals, a copy, a reissued label,
and an inspected and an uninspected foreign-supplied device. Adds ctx["assets"], ctx["checkouts"]
and ctx["approvals"] for later steps."""

from __future__ import annotations

from datetime import timedelta

from registry.approvals import services as approvals
from registry.assets import services
from registry.core.errors import RuleViolation
from registry.core.models import utcnow
from registry.core.security_events import record_security_event

# key, kind, subtype, title, level, custodian, room, extra fields
ITEMS = [
    ("plan", "media", "paper", "某型号总体设计方案", "top_secret", "E1002", "BMS-101",
     {"doc_no": "示所〔2026〕1号", "originator": "第一研究室", "pages": 126, "copies": 3, "copy_no": 1,
      "scope_departments": ["第一研究室"]}),
    ("report", "media", "paper", "关键技术攻关阶段报告", "secret", "E1003", "BMS-101",
     {"doc_no": "示所〔2026〕7号", "originator": "第一研究室", "pages": 48, "copies": 2, "copy_no": 1,
      "scope_departments": ["第一研究室", "保密办公室"]}),
    ("summary", "media", "paper", "2025年度科研工作总结", "confidential", "E1005", "DA-105",
     {"doc_no": "示所〔2026〕12号", "originator": "第二研究室", "pages": 22, "copies": 5, "copy_no": 1}),
    ("minutes", "media", "paper", "所务会议纪要", "internal", "E1007", "BGS-110",
     {"doc_no": "会〔2026〕3号", "originator": "综合办公室", "pages": 4, "copies": 10}),
    ("disc", "media", "disc", "风洞试验数据光盘", "secret", "E1004", "DA-105",
     {"doc_no": "SJ-2026-02", "originator": "第二研究室", "copies": 1, "copy_no": 1}),
    ("drawing", "media", "film", "结构总装图（蓝图）", "confidential", "E1010", "DA-105",
     {"doc_no": "TZ-0415", "originator": "第一研究室", "pages": 12, "copies": 2, "copy_no": 2}),
    ("laptop", "computer", "laptop", "涉密便携式计算机（外出专用）", "secret", "E1003", "JF-201",
     {"serial_no": "PF3K9L2X", "model": "ThinkPad X13", "hdd_serial": "S5GXNF0R412345", "mac": "3C:52:82:1A:0B:7F",
      "network": "standalone", "os": "麒麟 V10 SP3"}),
    ("server", "computer", "server", "涉密信息系统服务器", "top_secret", "E1006", "JF-201",
     {"serial_no": "CN7420QX1", "model": "浪潮 NF5280", "hdd_serial": "WD-WX12A3456789", "mac": "00:1B:21:3A:4F:9C",
      "network": "classified", "os": "统信 UOS 服务器版", "ip": "10.20.1.10"}),
    ("desktop", "computer", "desktop", "第一研究室设计工作站", "confidential", "E1010", "SYS-301",
     {"serial_no": "MJ0K2L7P", "model": "联想 开天 M90", "hdd_serial": "Z4Y0ABCD", "mac": "F8:75:A4:11:22:33",
      "network": "intranet", "os": "麒麟 V10"}),
    ("usb", "storage", "usb_flash", "涉密U盘（机密级）", "secret", "E1003", "BMS-101",
     {"capacity": "64 GB", "serial_no": "UD-88231"}),
    ("disk", "storage", "external_disk", "涉密移动硬盘（秘密级）", "confidential", "E1005", "DA-105",
     {"capacity": "2 TB", "serial_no": "WXA2E83KJ991"}),
    ("usb_ts", "storage", "usb_flash", "涉密U盘（绝密级）", "top_secret", "E1002", "BMS-101",
     {"capacity": "32 GB", "serial_no": "UD-90007"}),
    ("scope", "equipment", "instrument", "进口数字示波器", "confidential", "E1006", None,
     {"model": "Keysight DSOX3054T", "serial_no": "MY59123456", "foreign_supplied": True}),
    ("printer", "equipment", "printer", "进口激光打印机（待检测）", "internal", "E1007", "BGS-110",
     {"model": "HP LaserJet M507", "serial_no": "PHBL123456", "foreign_supplied": True}),
    ("manual", "media", "paper", "设备使用说明书（公开资料）", "unclassified", "E1006", "BGS-110",
     {"doc_no": "SM-01", "originator": "信息中心", "pages": 60, "copies": 1}),
    ("shredder", "equipment", "other", "保密碎纸机", "internal", "E1001", "BMS-101",
     {"model": "科密 C-638", "serial_no": "KM638-2201"}),
]


def demo_step(session, ctx: dict) -> None:
    """Create the custody demo (runs after the base step: people, rooms, users)."""
    people, rooms, users = ctx["people"], ctx["rooms"], ctx["users"]
    officer, approver, staff = users["officer"], users["approver"], users["staff"]
    now = utcnow()
    items = {}
    for key, kind, subtype, title, level, custodian, room, extra in ITEMS:
        data = {"kind": kind, "subtype": subtype, "title": title, "level": level,
                "custodian_id": people[custodian].id, "room_id": rooms[room].id if room else None}
        data.update(extra)
        items[key] = services.create_asset(session, data, actor=officer, now=now - timedelta(days=40))

    # foreign-supplied equipment: one inspected, then placed in a secret laboratory; one not inspected
    services.add_inspection(session, items["scope"], {"date": ctx["today"] - timedelta(days=20),
                                                      "inspector": "省保密技术检查中心", "result": "passed",
                                                      "notes": "未发现窃听、无线发射装置"}, actor=officer)
    services.update_asset(session, items["scope"], {"room_id": rooms["SYS-301"].id}, actor=officer)

    def approve(asset, borrower_no, when, requester=staff):
        a = approvals.request_approval(session, kind="checkout", actor=requester, purpose="工作需要",
                                       asset_id=asset.id, borrower_id=people[borrower_no].id, now=when)
        approvals.decide(session, a, decision="approved", reason="同意", actor=approver, now=when + timedelta(hours=1))
        return a

    checkouts = {}
    # open, self-service (confidential, staff2 = E1005)
    checkouts["open_self"] = services.checkout(session, items["summary"], people["E1005"], actor=users["staff2"],
                                               purpose="撰写年度报告", now=now - timedelta(days=1))
    # open and overdue, secret, with an approval
    approve(items["report"], "E1003", now - timedelta(days=6))
    checkouts["overdue_secret"] = services.checkout(session, items["report"], people["E1003"], actor=officer,
                                                    purpose="技术评审", now=now - timedelta(days=5))
    # open, overdue confidential disk
    checkouts["overdue_disk"] = services.checkout(session, items["disk"], people["E1005"], actor=officer,
                                                  purpose="数据备份", now=now - timedelta(days=10))
    # open: laptop (secret) and the secret USB drive used with it (rule 10)
    approve(items["laptop"], "E1003", now - timedelta(hours=5))
    checkouts["laptop"] = services.checkout(session, items["laptop"], people["E1003"], actor=officer,
                                            purpose="外出参加评审会", now=now - timedelta(hours=4))
    approve(items["usb"], "E1003", now - timedelta(hours=5))
    checkouts["usb"] = services.checkout(session, items["usb"], people["E1003"], actor=officer, purpose="拷贝评审材料",
                                         device=items["laptop"], now=now - timedelta(hours=4))
    # returned intact, and returned damaged (a return discrepancy)
    past = services.checkout(session, items["minutes"], people["E1007"], actor=officer, purpose="传阅",
                             now=now - timedelta(days=20))
    services.checkin(session, items["minutes"], actor=officer, condition="intact", now=now - timedelta(days=18))
    checkouts["returned"] = past
    damaged = services.checkout(session, items["drawing"], people["E1010"], actor=officer, purpose="现场装配",
                                now=now - timedelta(days=9))
    services.checkin(session, items["drawing"], actor=officer, condition="damaged", note="第3页破损",
                     now=now - timedelta(days=4))
    checkouts["returned_damaged"] = damaged
    # a refusal on record: E1004's commitment letter has expired
    try:
        with session.begin_nested():
            services.checkout(session, items["disc"], people["E1004"], actor=officer, purpose="数据分析", now=now)
    except RuleViolation as exc:
        record_security_event(session, kind=exc.event_kind, actor=officer, reason=exc.code, subject=items["disc"],
                              details=exc.details)

    # approvals: pending (top secret plan for 王建国, requested by the officer himself), pending copy, approved copy used
    pending = approvals.request_approval(session, kind="checkout", actor=officer, purpose="型号总体方案评审",
                                         asset_id=items["plan"].id, borrower_id=people["E1001"].id)
    pending_copy = approvals.request_approval(session, kind="copy", actor=staff, purpose="评审会分发",
                                              details={"copies": 2}, asset_id=items["report"].id)
    copy_ok = approvals.request_approval(session, kind="copy", actor=users["staff2"], purpose="归档备份",
                                         asset_id=items["summary"].id)
    approvals.decide(session, copy_ok, decision="approved", reason="同意复制1份", actor=approver)
    items["summary_copy"] = services.make_copy(session, items["summary"], actor=officer)[0]

    # a reissued label (the old one is revoked: scanning it is refused and recorded)
    services.reissue_label(session, items["desktop"], actor=officer, reason="标签污损")

    ctx["assets"] = items
    ctx["checkouts"] = checkouts
    ctx["approvals"] = {"pending_checkout": pending, "pending_copy": pending_copy, "used_copy": copy_ok}
