"""Demo data for inventories and destruction: a closed inventory of the archive room (one item missing,
one in the wrong room, an unknown label, items out on loan), an inventory in progress in the secrecy
room and the server room (a revoked label among its scans), and a witnessed destruction of two
superseded items with its approval. Runs after the custody demo (ctx["assets"])."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from registry.approvals import services as approvals
from registry.assets import services as custody
from registry.core.labels import Label
from registry.core.models import utcnow
from registry.stocktake import services


def demo_step(session, ctx: dict) -> None:
    people, rooms, users, items = ctx["people"], ctx["rooms"], ctx["users"], ctx.get("assets", {})
    officer, approver = users["officer"], users["approver"]
    now = utcnow()
    base_url = ""

    def scan(inv, text, room, minutes):
        services.record_scan(session, inv, text, rooms[room].id, actor=officer, base_url=base_url,
                             now=inv.started_at + timedelta(minutes=minutes))

    # 1. a closed inventory of the archive room, three weeks ago
    archive = services.start_inventory(session, [rooms["DA-105"].id], actor=officer, note="档案室季度清查",
                                       now=now - timedelta(days=21, hours=3))
    minute = 2
    for key in ("disc", "drawing"):
        if key in items:
            scan(archive, items[key].label_code, "DA-105", minute)
            minute += 3
    if "shredder" in items:
        scan(archive, items["shredder"].label_code, "DA-105", minute)  # belongs in the secrecy room
    scan(archive, "XJ-2019-0042", "DA-105", minute + 4)  # an old label nobody knows
    services.close_inventory(session, archive, actor=officer, now=now - timedelta(days=21, hours=2))

    # 2. an inventory in progress: the secrecy room and the server room
    walk = services.start_inventory(session, [rooms["BMS-101"].id, rooms["JF-201"].id], actor=officer,
                                    note="年度清查（保密室、涉密机房）", now=now - timedelta(hours=1))
    for i, key in enumerate(("plan", "usb_ts", "shredder")):
        if key in items:
            scan(walk, items[key].label_code, "BMS-101", 3 + i * 2)
    revoked = session.scalar(sa.select(Label).where(Label.target_type == "asset", Label.revoked_at.is_not(None))
                             .order_by(Label.id))
    if revoked is not None:
        scan(walk, revoked.code, "BMS-101", 11)
    if "server" in items:
        scan(walk, items["server"].label_code, "JF-201", 20)

    # 3. destruction of two superseded items, approved and witnessed
    old = [custody.create_asset(session, {
        "kind": "media", "subtype": "paper", "title": "2019年度保密检查通报（已作废）", "level": "confidential",
        "custodian_id": people["E1001"].id, "room_id": rooms["BMS-101"].id, "doc_no": "保〔2019〕5号",
        "originator": "保密办公室", "pages": 6, "copies": 1, "copy_no": 1}, actor=officer, now=now - timedelta(days=60)),
        custody.create_asset(session, {
            "kind": "media", "subtype": "disc", "title": "旧版设计规范光盘（已换版）", "level": "secret",
            "custodian_id": people["E1002"].id, "room_id": rooms["BMS-101"].id, "doc_no": "GF-2018-03",
            "originator": "第一研究室", "copies": 1, "copy_no": 1}, actor=officer, now=now - timedelta(days=60))]
    approval = services.request_destruction_approval(session, old, actor=officer, purpose="已作废、已换版载体，申请销毁")
    approvals.decide(session, approval, decision="approved", reason="同意销毁，双人监销", actor=approver)
    record = services.record_destruction(session, {
        "asset_ids": [a.id for a in old], "method": "shredding", "destroyed_on": ctx["today"] - timedelta(days=3),
        "approval_id": approval.id, "performed_by": people["E1001"].id,
        "witness_ids": [people["E1006"].id, people["E1011"].id], "place": "保密室（碎纸机 科密 C-638）",
        "note": "光盘先经物理破坏后粉碎"}, actor=officer)
    # and one more item waiting for its destruction approval
    pending_item = custody.create_asset(session, {
        "kind": "storage", "subtype": "usb_flash", "title": "损坏的涉密U盘", "level": "secret",
        "custodian_id": people["E1003"].id, "room_id": rooms["BMS-101"].id, "capacity": "16 GB",
        "serial_no": "UD-70311"}, actor=officer, now=now - timedelta(days=10))
    pending = services.request_destruction_approval(session, [pending_item], actor=officer,
                                                    purpose="U盘损坏无法使用，申请物理销毁")
    ctx["stocktake"] = {"closed_inventory": archive, "open_inventory": walk, "destruction": record,
                        "pending_destruction_approval": pending}
