"""Demo data for provisions to foreign parties: one provision through all five steps and handed over,
one approved but still without its agreement, one waiting for its secrecy review, one rejected at
review, an internal one provided without approval, and a refused request for a project whose review
is pending. Uses the projects of an earlier step (ctx["projects"]) or creates two."""

from __future__ import annotations

from datetime import timedelta

from registry.approvals import services as approvals
from registry.cooperation import provision_services as services
from registry.cooperation import services as projects
from registry.core.errors import RuleViolation
from registry.core.security_events import record_security_event


def _projects(session, ctx, officer):
    """A passed and a pending project: from ctx["projects"] when an earlier step made them."""
    found = ctx.get("projects") or {}
    existing = list(found.values()) if isinstance(found, dict) else list(found)
    passed = next((p for p in existing if p.review_passed), None)
    pending = next((p for p in existing if p.review_status.value == "pending"), None)
    today = ctx["today"]
    if passed is None:
        passed = projects.create_project(session, {
            "name": "中德高速风洞联合试验", "partner": "Deutsches Zentrum für Luft- und Raumfahrt (DLR)",
            "partner_country": "DE", "department": "第二研究室", "description": "高速风洞联合试验与数据比对",
            "starts_on": today - timedelta(days=120), "ends_on": today + timedelta(days=240),
            "review_status": "conditional", "reviewed_by": ctx["people"]["E1001"].id,
            "reviewed_on": today - timedelta(days=110),
            "conclusion": "仅可提供经脱密处理的试验数据；原始数据和型号参数不得提供。"}, actor=officer)
    if pending is None:
        pending = projects.create_project(session, {
            "name": "中法复合材料联合研究", "partner": "ONERA", "partner_country": "FR", "department": "第一研究室",
            "description": "复合材料性能测试方法研究", "starts_on": today + timedelta(days=30),
            "review_status": "pending"}, actor=officer)
    return passed, pending


def demo_step(session, ctx: dict) -> None:
    people, users, items = ctx["people"], ctx["users"], ctx.get("assets", {})
    officer, approver = users["officer"], users["approver"]
    today = ctx["today"]
    project, pending_project = _projects(session, ctx, officer)
    reviewer = people["E1001"].id

    def approve(p, days_ago):
        a = services.request_approval(session, p, actor=officer, purpose="按合作协议向外方提供")
        approvals.decide(session, a, decision="approved", reason="同意，按脱密版本提供", actor=approver)
        return a

    # 1. all five steps, then handed over: a declassified extract of the wind-tunnel data disc (secret)
    done = services.create_provision(session, {
        "project_id": project.id, "material": "风洞试验数据摘要（脱密版）", "asset_id": items["disc"].id if "disc" in items else None,
        "level": "confidential", "copies": 1, "recipient": "DLR Institute of Aerodynamics", "recipient_country": "DE",
        "purpose": "联合试验数据比对", "legal_basis": "《中德风洞联合试验合作协议》第5条"}, actor=officer, today=today)
    services.record_review(session, done, {"reviewer_id": reviewer, "reviewed_on": today - timedelta(days=30),
                                           "review_outcome": "conditional",
                                           "review_conclusion": "删除型号代号和关键参数后可以提供"}, actor=officer, today=today)
    services.record_treatment(session, done, {"treatment": "declassified", "treated_on": today - timedelta(days=25),
                                              "treatment_note": "删除型号代号、来流参数原始值，数据归一化处理"},
                              actor=officer, today=today)
    approve(done, 20)
    services.record_agreement(session, done, {"agreement_no": "BMXY-2026-007", "agreement_signed_on": today - timedelta(days=15),
                                              "agreement_parties": "甲方：示例研究所（王建国）；乙方：DLR（Dr. M. Weber）"},
                              actor=officer, today=today)
    services.mark_provided(session, done, actor=officer, provided_on=today - timedelta(days=12), today=today)

    # 2. approved, the agreement not yet signed
    waiting = services.create_provision(session, {
        "project_id": project.id, "material": "联合试验实施方案", "level": "confidential", "copies": 2,
        "recipient": "DLR Institute of Aerodynamics", "recipient_country": "DE", "purpose": "试验准备",
        "legal_basis": "《中德风洞联合试验合作协议》第3条"}, actor=officer, today=today)
    services.record_review(session, waiting, {"reviewer_id": reviewer, "reviewed_on": today - timedelta(days=6),
                                              "review_outcome": "passed", "review_conclusion": ""}, actor=officer, today=today)
    services.record_treatment(session, waiting, {"treatment": "none_needed", "treated_on": today - timedelta(days=6)},
                              actor=officer, today=today)
    approve(waiting, 4)

    # 3. registered, the secrecy review still to do
    services.create_provision(session, {
        "project_id": project.id, "material": "模型加工图纸", "level": "secret", "copies": 1,
        "recipient": "DLR Institute of Aerodynamics", "recipient_country": "DE", "purpose": "外方加工试验模型",
        "legal_basis": "合作协议附件2"}, actor=officer, today=today)

    # 4. rejected at the secrecy review
    rejected = services.create_provision(session, {
        "project_id": project.id, "material": "型号总体设计参数", "asset_id": items["plan"].id if "plan" in items else None,
        "level": "top_secret", "copies": 1, "recipient": "DLR", "recipient_country": "DE", "purpose": "外方要求",
        "legal_basis": "无"}, actor=officer, today=today)
    services.record_review(session, rejected, {"reviewer_id": reviewer, "reviewed_on": today - timedelta(days=8),
                                               "review_outcome": "rejected",
                                               "review_conclusion": "涉及绝密型号参数，不得对外提供"}, actor=officer, today=today)

    # 5. internal material: no approval or agreement needed
    agenda = services.create_provision(session, {
        "project_id": project.id, "material": "技术交流会议日程和参会名单", "level": "internal", "copies": 1,
        "recipient": "DLR", "recipient_country": "DE", "purpose": "会议组织", "legal_basis": "外事接待方案"},
        actor=officer, today=today)
    services.record_review(session, agenda, {"reviewer_id": reviewer, "reviewed_on": today - timedelta(days=3),
                                             "review_outcome": "passed"}, actor=officer, today=today)
    services.mark_provided(session, agenda, actor=officer, provided_on=today - timedelta(days=2), today=today)

    # a refused request: the other project has not passed its review yet
    try:
        with session.begin_nested():
            services.create_provision(session, {
                "project_id": pending_project.id, "material": "复合材料测试数据", "level": "confidential",
                "recipient": "ONERA", "recipient_country": "FR", "purpose": "前期交流", "legal_basis": "意向书"},
                actor=officer, today=today)
    except RuleViolation as exc:
        record_security_event(session, kind=exc.event_kind, actor=officer, reason=exc.code, subject=pending_project,
                              details=exc.details)
    ctx.setdefault("projects", {}).update({"provision_project": project, "provision_pending_project": pending_project})
