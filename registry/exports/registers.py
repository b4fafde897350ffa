"""The registers of SPEC §6, each declared once: its columns (headers after DOMAIN.md §2),
the query that streams its rows, its period filter, its marking and its import.

Registers whose models belong to a domain that is not installed yet stay declared; they
report `available() == False` and are left out of the pages, the API and the pack.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import aliased, joinedload, selectinload

from registry.core.audit import AuditEvent
from registry.core.models import UTCDateTime
from registry.core.security_events import SecurityEvent
from registry.exports.columns import (ASSET_KIND, ASSET_STATUS, CATEGORY, CONDITION, DESTRUCTION_METHOD,
                                      DEVICE_DISPOSITION, DEVICE_KIND, DOC_TYPE, FOREIGN_POLICY, INSPECTION_RESULT,
                                      LEVEL, NETWORK, PERSON_STATUS, PROVISION_STATUS, REVIEW_OUTCOME, REVIEW_STATUS,
                                      SECURITY_KIND, SUBTYPE, TREATMENT, ZH, Column, ExportContext, ImportSpec,
                                      Register, attr, max_level, seq_column)

# ---------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """The period of an export (inclusive dates in the unit's time zone)."""

    start: date | None = None
    end: date | None = None

    def as_json(self) -> dict:
        return {"from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None}

    def text(self, lang: str) -> str:
        if not self.start and not self.end:
            return "全部记录" if lang == ZH else "all records"
        start = self.start.isoformat() if self.start else ("最早" if lang == ZH else "earliest")
        end = self.end.isoformat() if self.end else ("至今" if lang == ZH else "today")
        return f"{start} 至 {end}" if lang == ZH else f"{start} to {end}"


def apply_period(stmt, column, filters: Filters, tz):
    """Restrict a statement to the period; datetimes compare against local-day boundaries."""
    if column is None or (filters.start is None and filters.end is None):
        return stmt
    is_datetime = isinstance(column.type, (UTCDateTime, sa.DateTime))
    if is_datetime:
        if filters.start:
            stmt = stmt.where(column >= datetime.combine(filters.start, time.min, tz).astimezone(timezone.utc))
        if filters.end:
            end = datetime.combine(filters.end + timedelta(days=1), time.min, tz).astimezone(timezone.utc)
            stmt = stmt.where(column < end)
    else:
        if filters.start:
            stmt = stmt.where(column >= filters.start)
        if filters.end:
            stmt = stmt.where(column <= filters.end)
    return stmt


# ---------------------------------------------------------------- helpers for getters

def _join(values, lang_sep="、"):
    items = [str(v) for v in values if v not in (None, "")]
    return lang_sep.join(items) if items else None


def _person_label(p) -> str | None:
    return f"{p.name}" if p is not None else None


def _clearance(person, ctx: ExportContext):
    return person.clearance(ctx.home_country).value


def _nationality_foreign(row, ctx: ExportContext):
    value = getattr(row, "nationality", None)
    return None if value is None else value.upper() != (ctx.home_country or "CN").upper()


# ---------------------------------------------------------------- people

def _people_query(filters: Filters):
    from registry.people.models import Person

    return sa.select(Person).order_by(Person.employee_no)


def _people_date():
    from registry.people.models import Person

    return Person.created_at


def _person_exists(session, data: dict) -> bool:
    """Exact match (the unique index answers it); the service's own check also catches other cases."""
    from registry.people.models import Person

    value = str(data.get("employee_no") or "").strip()
    return session.scalar(sa.select(Person.id).where(Person.employee_no == value)) is not None


def _people_form():
    from registry.people.forms import PersonForm

    return PersonForm


def _create_person(session, data, actor):
    from registry.people.services import create_person

    return create_person(session, data, actor=actor)


PEOPLE = Register(
    name="people", zh="涉密人员台账", en="Register of cleared personnel",
    columns=[
        seq_column(),
        Column("employee_no", "工号", "Employee no.", width=12, field="employee_no"),
        Column("name", "姓名", "Name", width=14, field="name"),
        Column("department", "所属部门", "Department", width=16, field="department"),
        Column("position", "岗位", "Position", width=14, field="position"),
        Column("nationality", "国籍（地区）", "Nationality", width=10, field="nationality"),
        Column("category", "涉密人员类别", "Secrecy category", kind="enum", labels=CATEGORY, width=14,
               field="category"),
        Column("clearance", "可接触最高密级", "Clearance", kind="enum", labels=LEVEL, width=12,
               get=_clearance, needs_ctx=True),
        Column("commitment_signed_on", "保密承诺书签订日期", "Commitment letter signed on", kind="date", width=14,
               field="commitment_signed_on"),
        Column("commitment_expires_on", "保密承诺书到期日期", "Commitment letter expires on", kind="date", width=14,
               field="commitment_expires_on"),
        Column("status", "在岗状态", "Status", kind="enum", labels=PERSON_STATUS, width=10, field="status"),
        Column("decommission_until", "脱密期截止日期", "Decommissioning period ends on", kind="date", width=14,
               field="decommission_until"),
        Column("phone", "联系方式", "Phone", width=14, field="phone"),
        Column("notes", "备注", "Notes", width=24, wrap=True, field="notes"),
        Column("created_at", "登记日期", "Registered on", kind="date", width=12),
    ],
    query=_people_query, date_column=_people_date, date_label=("登记日期", "registered on"),
    importer=ImportSpec(form=_people_form, create=_create_person, key="employee_no", key_exists=_person_exists,
                        defaults={"nationality": "CN", "category": "none", "status": "active"}),
    description=("姓名、工号、类别、保密承诺书、在岗状态", "name, employee number, category, commitment letter, status"),
)


# ---------------------------------------------------------------- rooms

def _rooms_query(filters: Filters):
    from registry.areas.models import Room

    return sa.select(Room).options(joinedload(Room.responsible)).order_by(Room.code)


def _rooms_date():
    from registry.areas.models import Room

    return Room.created_at


def _rooms_level():
    from registry.areas.models import Room

    return Room.level


def _room_exists(session, data: dict) -> bool:
    from registry.areas.models import Room

    value = str(data.get("code") or "").strip()
    return session.scalar(sa.select(Room.id).where(Room.code == value)) is not None


def _rooms_form():
    from registry.areas.forms import RoomForm

    return RoomForm


def _create_room(session, data, actor):
    from registry.areas.services import create_room

    return create_room(session, data, actor=actor)


ROOMS = Register(
    name="rooms", zh="保密要害部门部位台账", en="Register of restricted rooms",
    columns=[
        seq_column(),
        Column("code", "部位编号", "Room code", width=12, field="code"),
        Column("name", "部位名称", "Name", width=20, field="name"),
        Column("location", "所处位置", "Building / floor", width=18, field="location"),
        Column("level", "密级", "Level", kind="enum", labels=LEVEL, width=8, field="level"),
        Column("foreign_policy", "境外人员进入", "Foreign visitors", kind="enum", labels=FOREIGN_POLICY, width=16,
               field="foreign_policy"),
        Column("max_visitors_per_escort", "每名陪同人员最多带领人数", "Max. visitors per escort", kind="int", width=12,
               field="max_visitors_per_escort"),
        Column("protection", "防护措施", "Protective measures", width=30, wrap=True, field="protection"),
        Column("responsible", "负责人", "Responsible person", width=12, get=lambda r: _person_label(r.responsible)),
        Column("responsible_no", "负责人工号", "Responsible person's employee no.", width=12,
               get=attr("responsible.employee_no"), field="responsible_id", ref="person"),
        Column("active", "在用", "In use", kind="bool", width=8),
        Column("created_at", "登记日期", "Registered on", kind="date", width=12),
    ],
    query=_rooms_query, date_column=_rooms_date, level_column=_rooms_level,
    level_of=lambda r: r.level,
    importer=ImportSpec(form=_rooms_form, create=_create_room, key="code", key_exists=_room_exists,
                        defaults={"level": "internal", "foreign_policy": "escorted", "max_visitors_per_escort": "5"}),
    description=("部位编号、名称、位置、密级、境外人员进入规定", "code, name, location, level, foreign-visitor policy"),
)


# ---------------------------------------------------------------- security events and audit

def _security_query(filters: Filters):
    return sa.select(*SecurityEvent.__table__.c).order_by(SecurityEvent.id)


def _security_date():
    return SecurityEvent.at


SECURITY_EVENTS = Register(
    name="security-events", zh="安全事件登记簿", en="Register of security events",
    columns=[
        seq_column(),
        Column("id", "事件编号", "Event no.", kind="int", width=9),
        Column("at", "时间", "Time", kind="datetime", width=17),
        Column("kind", "事件类型", "Kind", kind="enum", labels=SECURITY_KIND, width=16),
        Column("reason", "原因代码", "Reason code", width=20),
        Column("actor", "操作人", "Actor", width=14),
        Column("subject", "对象", "Subject", width=24, wrap=True),
        Column("details", "详情", "Details", kind="json", width=40, wrap=True),
        Column("ip", "IP 地址", "IP address", width=14),
    ],
    query=_security_query, scalars=False, date_column=_security_date, date_label=("发生时间", "time"),
    count_entity=lambda: SecurityEvent,
    description=("拒绝、异常及作废标签扫描等", "refusals, anomalies, revoked labels scanned"),
)


def _audit_query(filters: Filters):
    return sa.select(*AuditEvent.__table__.c).order_by(AuditEvent.seq)


def _audit_date():
    return AuditEvent.at


AUDIT = Register(
    name="audit", zh="审计日志", en="Audit trail",
    columns=[
        seq_column(),
        Column("seq", "审计序号", "Sequence", kind="int", width=9, get=attr("seq")),
        Column("at", "时间", "Time", kind="datetime", width=17),
        Column("actor", "操作人", "Actor", width=14),
        Column("action", "操作", "Action", width=22),
        Column("entity_type", "对象类型", "Entity type", width=14),
        Column("entity_id", "对象编号", "Entity id", kind="int", width=9),
        Column("data", "数据（变更前/后）", "Data (before / after)", kind="json", width=50, wrap=True),
        Column("via", "渠道", "Channel", width=7),
        Column("ip", "IP 地址", "IP address", width=14),
        Column("prev_hash", "前一哈希", "Previous hash", width=20),
        Column("hash", "哈希", "Hash", width=20),
    ],
    query=_audit_query, scalars=False, date_column=_audit_date, date_label=("时间", "time"),
    count_entity=lambda: AuditEvent,
    description=("防篡改审计链的全部事件", "every event of the tamper-evident chain"),
)


# ---------------------------------------------------------------- assets (custody)

def _assets_query_for(kind: str | None):
    def query(filters: Filters):
        from registry.assets.models import Asset

        stmt = sa.select(Asset).options(joinedload(Asset.custodian), joinedload(Asset.room),
                                        selectinload(Asset.scope_entries))
        if kind:
            stmt = stmt.where(Asset.kind == kind)
        if kind == "equipment":  # the equipment register shows the last inspection
            stmt = stmt.options(selectinload(Asset.inspections))
        return stmt.order_by(Asset.registry_no)
    return query


def _assets_date():
    from registry.assets.models import Asset

    return Asset.registered_on


def _assets_level():
    from registry.assets.models import Asset

    return Asset.level


def _asset_exists(session, data: dict) -> bool:
    from registry.assets.models import Asset

    value = str(data.get("registry_no") or "").strip()
    if not value:
        return False
    return session.scalar(sa.select(Asset.id).where(Asset.registry_no == value)) is not None


def _asset_form():
    from registry.assets.forms import AssetForm

    return AssetForm


def _create_asset(session, data, actor):
    from registry.assets.services import create_asset

    return create_asset(session, data, actor=actor)


def _asset_batch(session, actor):
    from registry.assets.services import AssetBatch

    return AssetBatch(session, actor=actor)


def _scope_departments(asset):
    return _join(e.department for e in asset.scope_entries if e.department)


def _scope_people(asset, ctx: ExportContext):
    numbers = ctx.lookup("person_no")
    return _join((numbers.get(e.person_id) for e in asset.scope_entries if e.person_id), "、")


def _last_inspection(asset, ctx: ExportContext):
    inspections = getattr(asset, "inspections", None) or []
    if not inspections:
        return None
    last = max(inspections, key=lambda i: i.date)
    result = getattr(last.result, "value", last.result)
    label = INSPECTION_RESULT.get(result, (result, result))[0 if ctx.lang == ZH else 1]
    return f"{last.date.isoformat()} {label} ({last.inspector})"


A = {  # asset columns shared by the asset registers
    "registry_no": Column("registry_no", "登记编号", "Registry no.", width=16, field="registry_no"),
    "kind": Column("kind", "类别", "Kind", kind="enum", labels=ASSET_KIND, width=12, field="kind"),
    "subtype": Column("subtype", "载体/设备类型", "Type", kind="enum", labels=SUBTYPE, width=12, field="subtype"),
    "title": Column("title", "名称", "Title", width=28, wrap=True, field="title"),
    "level": Column("level", "密级", "Level", kind="enum", labels=LEVEL, width=8, field="level"),
    "secrecy_years": Column("secrecy_years", "保密期限（年）", "Secrecy period (years)", kind="int", width=9,
                            field="secrecy_years"),
    "declassify_on": Column("declassify_on", "解密日期", "Declassify on", kind="date", width=12,
                            field="declassify_on"),
    "custodian": Column("custodian", "责任人", "Custodian", width=12, get=lambda a: _person_label(a.custodian)),
    "custodian_no": Column("custodian_no", "责任人工号", "Custodian's employee no.", width=12,
                           get=attr("custodian.employee_no"), field="custodian_id", ref="person"),
    "department": Column("department", "使用部门", "Department", width=14, get=attr("custodian.department")),
    "room": Column("room", "存放地点", "Room", width=12, get=attr("room.code"), field="room_id", ref="room"),
    "room_name": Column("room_name", "存放地点名称", "Room name", width=16, get=attr("room.name")),
    "status": Column("status", "状态", "Status", kind="enum", labels=ASSET_STATUS, width=9),
    "serial_no": Column("serial_no", "序列号", "Serial no.", width=16, field="serial_no"),
    "model": Column("model", "型号", "Model", width=14, field="model"),
    "doc_no": Column("doc_no", "文号或编号", "Document no.", width=14, field="doc_no"),
    "originator": Column("originator", "制作发文单位", "Originator", width=16, field="originator"),
    "pages": Column("pages", "页数", "Pages", kind="int", width=7, field="pages"),
    "copies": Column("copies", "份数", "Copies", kind="int", width=7, field="copies"),
    "copy_no": Column("copy_no", "份号", "Copy no.", kind="int", width=7, field="copy_no"),
    "hdd_serial": Column("hdd_serial", "硬盘序列号", "Hard disk serial", width=18, field="hdd_serial"),
    "mac": Column("mac", "MAC地址", "MAC address", width=18, field="mac"),
    "network": Column("network", "联网类型", "Network", kind="enum", labels=NETWORK, width=12, field="network"),
    "os": Column("os", "操作系统", "Operating system", width=14, field="os"),
    "ip": Column("ip", "IP地址", "IP address", width=14, field="ip"),
    "capacity": Column("capacity", "容量", "Capacity", width=10, field="capacity"),
    "foreign_supplied": Column("foreign_supplied", "境外提供", "Foreign-supplied", kind="bool", width=9,
                               field="foreign_supplied"),
    "inspection": Column("inspection", "检查检测情况", "Inspection", width=24, get=_last_inspection, needs_ctx=True),
    "scope_departments": Column("scope_departments", "知悉范围（部门）", "Need-to-know (departments)", width=18,
                                get=_scope_departments, field="scope_departments", wrap=True, multi=True),
    "scope_people": Column("scope_people", "知悉范围（人员工号）", "Need-to-know (employee nos.)", width=18,
                           get=_scope_people, needs_ctx=True, field="scope_person_ids", ref="person", wrap=True,
                           multi=True),
    "registered_on": Column("registered_on", "登记日期", "Registered on", kind="date", width=12),
    "notes": Column("notes", "备注", "Notes", width=24, wrap=True, field="notes"),
}


def _asset_register(name, zh, en, kind, keys, description, extra_loads=()):
    return Register(
        name=name, zh=zh, en=en,
        columns=[seq_column()] + [A[k] for k in keys],
        query=_assets_query_for(kind), date_column=_assets_date, level_column=_assets_level,
        level_of=lambda a: a.level, requires=("registry.assets.models",),
        importer=ImportSpec(form=_asset_form, create=_create_asset, key="registry_no", key_exists=_asset_exists,
                            defaults={"kind": kind} if kind else {}, bulk=_asset_batch),
        description=description,
    )


ASSETS = _asset_register(
    "assets", "涉密载体及设备总台账", "Register of classified items", None,
    ["registry_no", "kind", "subtype", "title", "level", "secrecy_years", "declassify_on", "custodian",
     "custodian_no", "department", "room", "room_name", "status", "serial_no", "model", "doc_no", "originator",
     "pages", "copies", "copy_no", "hdd_serial", "mac", "network", "os", "ip", "capacity", "foreign_supplied",
     "scope_departments", "scope_people", "registered_on", "notes"],
    ("全部载体、计算机、存储介质和设备", "all media, computers, storage and equipment"))
MEDIA = _asset_register(
    "media", "涉密载体台账", "Register of classified media", "media",
    ["registry_no", "title", "originator", "subtype", "doc_no", "level", "secrecy_years", "declassify_on", "pages",
     "copies", "copy_no", "scope_departments", "scope_people", "custodian", "custodian_no", "room", "status",
     "registered_on", "notes"],
    ("文件资料名称、文号、密级、页数、份数、知悉范围", "title, document no., level, pages, copies, scope"))
COMPUTERS = _asset_register(
    "computers", "涉密计算机台账", "Register of classified computers", "computer",
    ["registry_no", "title", "subtype", "model", "serial_no", "hdd_serial", "mac", "level", "network", "os", "ip",
     "department", "custodian", "custodian_no", "room", "foreign_supplied", "status", "registered_on", "notes"],
    ("设备编号、型号、硬盘序列号、MAC地址、设备密级、房间号", "number, model, disk serial, MAC, level, room"))
STORAGE = _asset_register(
    "storage", "涉密移动存储介质台账", "Register of removable storage", "storage",
    ["registry_no", "subtype", "title", "model", "capacity", "serial_no", "level", "scope_departments",
     "scope_people", "custodian", "custodian_no", "room", "status", "registered_on", "notes"],
    ("保密编号、类别、规格、序列号、密级、保管人", "number, type, capacity, serial, level, custodian"))
EQUIPMENT = _asset_register(
    "equipment", "涉密设备台账", "Register of classified equipment", "equipment",
    ["registry_no", "title", "subtype", "model", "serial_no", "level", "foreign_supplied", "inspection",
     "custodian", "custodian_no", "room", "status", "registered_on", "notes"],
    ("设备编号、名称、型号、密级、境外提供及检查检测", "number, name, model, level, foreign supply, inspection"))


def _checkouts_query(filters: Filters):
    from registry.assets.models import Asset, Checkout
    from registry.auth.models import User
    from registry.people.models import Person

    borrower = aliased(Person, name="borrower")
    handler = aliased(User, name="handler")
    receiver = aliased(User, name="receiver")
    device = aliased(Asset, name="device")
    return (
        sa.select(
            Checkout.id.label("id"), Asset.registry_no.label("registry_no"), Asset.title.label("title"),
            Asset.kind.label("kind"), Asset.level.label("level"), borrower.name.label("borrower"),
            borrower.employee_no.label("borrower_no"), borrower.department.label("department"),
            Checkout.purpose.label("purpose"), Checkout.out_at.label("out_at"), Checkout.due_at.label("due_at"),
            handler.username.label("handler"), Checkout.self_service.label("self_service"),
            Checkout.approval_id.label("approval_id"), device.registry_no.label("device_no"),
            device.level.label("device_level"), Checkout.returned_at.label("returned_at"),
            Checkout.condition.label("condition"), receiver.username.label("receiver"), Checkout.note.label("note"))
        .select_from(Checkout)
        .join(Asset, Asset.id == Checkout.asset_id)
        .join(borrower, borrower.id == Checkout.borrower_id)
        .outerjoin(handler, handler.id == Checkout.handled_by)
        .outerjoin(receiver, receiver.id == Checkout.received_by)
        .outerjoin(device, device.id == Checkout.device_id)
        .order_by(Checkout.out_at, Checkout.id)
    )


def _checkout_model():
    from registry.assets.models import Checkout

    return Checkout


def _checkouts_date():
    from registry.assets.models import Checkout

    return Checkout.out_at


def _checkouts_level_join():
    from registry.assets.models import Asset

    return Asset.level


def _overdue(row, ctx: ExportContext):
    if row.returned_at is not None:
        return False
    return row.due_at is not None and row.due_at < ctx.now


CHECKOUTS = Register(
    name="checkouts", zh="涉密载体借用登记簿", en="Checkout log",
    columns=[
        seq_column(),
        Column("id", "登记号", "Checkout no.", kind="int", width=9),
        Column("registry_no", "登记编号", "Registry no.", width=16),
        Column("title", "名称", "Title", width=24, wrap=True),
        Column("kind", "类别", "Kind", kind="enum", labels=ASSET_KIND, width=12),
        Column("level", "密级", "Level", kind="enum", labels=LEVEL, width=8),
        Column("borrower", "借用人", "Borrower", width=12),
        Column("borrower_no", "借用人工号", "Borrower's employee no.", width=12),
        Column("department", "借用部门", "Department", width=14),
        Column("purpose", "借用原因", "Purpose", width=20, wrap=True),
        Column("out_at", "借出时间", "Out at", kind="datetime", width=17),
        Column("due_at", "借用期限", "Due at", kind="datetime", width=17),
        Column("handler", "经办人", "Handled by", width=12),
        Column("self_service", "自助借用", "Self-service", kind="bool", width=8),
        Column("approval_id", "审批单号", "Approval no.", kind="int", width=9),
        Column("device_no", "连接设备编号", "Connected device", width=16),
        Column("device_level", "连接设备密级", "Device level", kind="enum", labels=LEVEL, width=10),
        Column("returned_at", "返回时间", "Returned at", kind="datetime", width=17),
        Column("condition", "检查情况", "Return condition", kind="enum", labels=CONDITION, width=10),
        Column("receiver", "检查人", "Received by", width=12),
        Column("overdue", "是否逾期", "Overdue", kind="bool", width=8, get=_overdue, needs_ctx=True),
        Column("note", "备注", "Note", width=20, wrap=True),
    ],
    query=_checkouts_query, scalars=False, date_column=_checkouts_date, date_label=("借出时间", "out at"),
    count_entity=_checkout_model,
    level_column=_checkouts_level_join, level_of=lambda r: r.level, requires=("registry.assets.models",),
    description=("借出、归还、检查情况", "check-out, return and condition"),
)


# ---------------------------------------------------------------- visitors, permissions, visits

def _visits_model(name: str):
    from registry.visits import models

    return getattr(models, name)


def _visitors_query(filters: Filters):
    from registry.visits.models import Visitor

    return sa.select(Visitor).options(joinedload(Visitor.host), joinedload(Visitor.project)).order_by(Visitor.id)


def _visitors_date():
    from registry.visits.models import Visitor

    return Visitor.created_at


def _visitor_key(data: dict) -> str:
    from registry.visits.forms import normalise_doc_no

    number = normalise_doc_no(str(data.get("id_doc_no") or ""))
    return f"{data.get('id_doc_type') or 'passport'}:{number}" if number else ""


def _visitor_exists(session, data: dict) -> bool:
    from registry.visits.forms import normalise_doc_no
    from registry.visits.models import IdDocType, Visitor

    number = normalise_doc_no(str(data.get("id_doc_no") or ""))
    try:
        doc_type = IdDocType(data.get("id_doc_type") or "passport")
    except ValueError:
        return False
    return session.scalar(sa.select(Visitor.id).where(Visitor.id_doc_type == doc_type,
                                                      Visitor.id_doc_no == number)) is not None


def _visitor_form():
    from registry.visits.forms import VisitorForm

    return VisitorForm


def _create_visitor(session, data, actor):
    from registry.visits.services import create_visitor

    return create_visitor(session, data, actor=actor)


def _doc_no(row, ctx: ExportContext):
    return ctx.masked(getattr(row, "id_doc_no", None))


VISITORS = Register(
    name="visitors", zh="来访人员登记表", en="Register of visitors",
    columns=[
        seq_column(),
        Column("name", "姓名", "Name", width=16, field="name"),
        Column("name_alt", "译名", "Name (second script)", width=16, field="name_alt"),
        Column("nationality", "国籍（地区）", "Nationality", width=10, field="nationality"),
        Column("foreign", "境外人员", "Foreign national", kind="bool", width=8, get=_nationality_foreign,
               needs_ctx=True),
        Column("id_doc_type", "证件类型", "ID document type", kind="enum", labels=DOC_TYPE, width=14,
               field="id_doc_type"),
        Column("id_doc_no", "证件号码", "ID document no.", width=18, get=_doc_no, needs_ctx=True, field="id_doc_no"),
        Column("organization", "来访人员单位", "Organisation", width=20, field="organization"),
        Column("position", "职务职称", "Position / title", width=14, field="position"),
        Column("purpose", "来访目的", "Purpose", width=20, wrap=True, field="purpose"),
        Column("host", "接待人", "Host", width=12, get=lambda v: _person_label(v.host)),
        Column("host_no", "接待人工号", "Host's employee no.", width=12, get=attr("host.employee_no"),
               field="host_id", ref="person"),
        Column("project", "合作项目", "Cooperation project", width=18, get=attr("project.name"),
               field="project_id", ref="project"),
        Column("arrives_on", "预计到达日期", "Expected arrival", kind="date", width=12, field="arrives_on"),
        Column("departs_on", "预计离开日期", "Expected departure", kind="date", width=12, field="departs_on"),
        Column("blocked", "禁止进入", "Blocked", kind="bool", width=8, field="blocked"),
        Column("blocked_reason", "禁止原因", "Reason blocked", width=18, wrap=True, field="blocked_reason"),
        Column("notes", "备注", "Notes", width=20, wrap=True, field="notes"),
        Column("created_at", "登记日期", "Registered on", kind="date", width=12),
    ],
    query=_visitors_query, date_column=_visitors_date, requires=("registry.visits.models",),
    importer=ImportSpec(form=_visitor_form, create=_create_visitor, key="id_doc_no", key_exists=_visitor_exists,
                        key_value=_visitor_key, defaults={"nationality": "CN", "id_doc_type": "passport"}),
    description=("姓名、国籍、证件（按角色脱敏）、单位、来访目的", "name, nationality, document (masked by role), purpose"),
)


def _permissions_query(filters: Filters):
    from registry.areas.models import Room
    from registry.visits.models import AreaPermission, Visitor

    return (sa.select(AreaPermission.id.label("id"), Visitor.name.label("visitor"),
                      Visitor.organization.label("organization"), Visitor.id_doc_no.label("id_doc_no"),
                      Visitor.nationality.label("nationality"), Room.code.label("room"), Room.name.label("room_name"),
                      Room.level.label("level"), AreaPermission.valid_from.label("valid_from"),
                      AreaPermission.valid_until.label("valid_until"),
                      AreaPermission.escort_required.label("escort_required"),
                      AreaPermission.approval_id.label("approval_id"), AreaPermission.granted_by.label("granted_by"),
                      AreaPermission.note.label("note"), AreaPermission.revoked_at.label("revoked_at"),
                      AreaPermission.revoke_reason.label("revoke_reason"))
            .select_from(AreaPermission)
            .join(Visitor, Visitor.id == AreaPermission.visitor_id)
            .join(Room, Room.id == AreaPermission.room_id)
            .order_by(AreaPermission.valid_from, AreaPermission.id))


def _permissions_date():
    from registry.visits.models import AreaPermission

    return AreaPermission.valid_from


def _room_level():
    from registry.areas.models import Room

    return Room.level


PERMISSIONS = Register(
    name="permissions", zh="外来人员进入要害部位审批登记", en="Register of area permissions",
    columns=[
        seq_column(),
        Column("id", "许可编号", "Permission no.", kind="int", width=9),
        Column("visitor", "来访人员", "Visitor", width=16),
        Column("organization", "来访人员单位", "Organisation", width=18),
        Column("nationality", "国籍（地区）", "Nationality", width=10),
        Column("id_doc_no", "证件号码", "ID document no.", width=18, get=_doc_no, needs_ctx=True),
        Column("room", "部位编号", "Room code", width=12),
        Column("room_name", "部位名称", "Room", width=18),
        Column("level", "密级", "Level", kind="enum", labels=LEVEL, width=8),
        Column("valid_from", "有效期自", "Valid from", kind="datetime", width=17),
        Column("valid_until", "有效期至", "Valid until", kind="datetime", width=17),
        Column("escort_required", "需陪同", "Escort required", kind="bool", width=8),
        Column("approval_id", "审批单号", "Approval no.", kind="int", width=9),
        Column("granted_by", "登记人", "Granted by", width=12),
        Column("note", "备注", "Note", width=18, wrap=True),
        Column("revoked_at", "撤销时间", "Revoked at", kind="datetime", width=17),
        Column("revoke_reason", "撤销原因", "Reason revoked", width=18, wrap=True),
    ],
    query=_permissions_query, scalars=False, date_column=_permissions_date, date_label=("有效期自", "valid from"),
    count_entity=lambda: _visits_model("AreaPermission"),
    level_column=_room_level, level_of=lambda r: r.level, requires=("registry.visits.models",),
    description=("来访人员、部位、有效期、陪同、审批", "visitor, room, validity, escort, approval"),
)


def _devices(row, ctx: ExportContext):
    items = getattr(row, "devices", None) or []
    idx = 0 if ctx.lang == ZH else 1
    out = []
    for d in items:
        if not isinstance(d, dict):
            continue
        kind = DEVICE_KIND.get(d.get("kind"), (d.get("kind"), d.get("kind")))[idx]
        how = DEVICE_DISPOSITION.get(d.get("disposition"), (d.get("disposition"), d.get("disposition")))[idx]
        note = f" {d['note']}" if d.get("note") else ""
        out.append(f"{kind}（{how}）{note}" if idx == 0 else f"{kind} ({how}){note}")
    text = ("；" if idx == 0 else "; ").join(out)
    return text or None


def _visits_query(filters: Filters):
    from registry.areas.models import Room
    from registry.people.models import Person
    from registry.visits.models import Visit, Visitor

    escort = aliased(Person, name="escort")
    cols = [Visit.id.label("id"), Visit.entered_at.label("entered_at"), Room.code.label("room"),
            Room.name.label("room_name"), Room.level.label("level"), Visitor.organization.label("organization"),
            Visitor.name.label("visitor"), Visitor.nationality.label("nationality"), escort.name.label("escort"),
            Visit.exited_at.label("exited_at"), Visit.devices.label("devices"), Visit.logged_by.label("guard"),
            Visit.exit_logged_by.label("exit_guard"), Visit.note.label("note")]
    return (sa.select(*cols).select_from(Visit)
            .join(Visitor, Visitor.id == Visit.visitor_id)
            .join(Room, Room.id == Visit.room_id)
            .outerjoin(escort, escort.id == Visit.escort_id)
            .order_by(Visit.entered_at, Visit.id))


def _visits_date():
    from registry.visits.models import Visit

    return Visit.entered_at


VISITS = Register(
    name="visits", zh="来访人员出入登记簿", en="Visitor entry log",
    columns=[
        seq_column(),
        Column("visit_date", "访问日期", "Date", kind="date", width=11, get=attr("entered_at")),
        Column("room_name", "部门部位名称", "Room", width=18),
        Column("room", "房间号", "Room code", width=10),
        Column("organization", "来访人员单位", "Organisation", width=18),
        Column("visitor", "姓名", "Name", width=14),
        Column("nationality", "国籍（地区）", "Nationality", width=9),
        Column("escort", "陪同人员", "Escort", width=12),
        Column("entered_at", "来访时间", "Entered at", kind="datetime", width=17),
        Column("exited_at", "离开时间", "Exited at", kind="datetime", width=17),
        Column("devices", "携带设备", "Devices", width=24, wrap=True, get=_devices, needs_ctx=True),
        Column("guard", "登记人", "Logged by", width=12),
        Column("exit_guard", "离开登记人", "Exit logged by", width=12),
        Column("note", "备注", "Note", width=18, wrap=True),
    ],
    query=_visits_query, scalars=False, date_column=_visits_date, date_label=("来访时间", "entered at"),
    count_entity=lambda: _visits_model("Visit"),
    level_column=_room_level, level_of=lambda r: r.level, requires=("registry.visits.models",),
    description=("访问日期、部位、来访人员、陪同人员、进出时间", "date, room, visitor, escort, in and out"),
)


# ---------------------------------------------------------------- cooperation

def _projects_query(filters: Filters):
    from registry.cooperation.models import CooperationProject

    return (sa.select(CooperationProject).options(joinedload(CooperationProject.reviewer))
            .order_by(CooperationProject.id))


def _projects_date():
    from registry.cooperation.models import CooperationProject

    return CooperationProject.created_at


PROJECTS = Register(
    name="projects", zh="对外合作项目保密审查登记", en="Register of cooperation projects",
    columns=[
        seq_column(),
        Column("name", "项目名称", "Project", width=24, wrap=True),
        Column("partner", "外方单位", "Foreign partner", width=20),
        Column("partner_country", "外方国别（地区）", "Partner country", width=10),
        Column("department", "承办部门", "Department", width=14),
        Column("starts_on", "开始日期", "Starts on", kind="date", width=12),
        Column("ends_on", "结束日期", "Ends on", kind="date", width=12),
        Column("review_status", "保密审查", "Secrecy review", kind="enum", labels=REVIEW_STATUS, width=12),
        Column("reviewer", "审查人", "Reviewed by", width=12, get=lambda p: _person_label(p.reviewer)),
        Column("reviewed_on", "审查日期", "Reviewed on", kind="date", width=12),
        Column("conclusion", "审查结论", "Conclusion", width=30, wrap=True),
    ],
    query=_projects_query, date_column=_projects_date, requires=("registry.cooperation.models",),
    description=("外方单位、保密审查及结论", "partner, secrecy review and conclusion"),
)


def _provision_model():
    from registry.cooperation.provision_models import Provision

    return Provision


def _provisions_query(filters: Filters):
    P = _provision_model()
    return (sa.select(P).options(joinedload(P.project), joinedload(P.asset), joinedload(P.reviewer))
            .order_by(P.id))


def _provisions_date():
    return _provision_model().created_at


def _provisions_level():
    return _provision_model().level


def _provision_status(p):
    """The status as the cooperation domain shows and exports it (approved = requested + granted)."""
    return getattr(p, "effective_status", None) or p.status


PROVISIONS = Register(
    name="provisions", zh="对外提供资料登记", en="Register of provisions to foreign parties",
    columns=[
        seq_column(),
        Column("id", "登记号", "No.", kind="int", width=7),
        Column("project", "合作项目", "Project", width=20, get=attr("project.name"), wrap=True),
        Column("material", "资料名称", "Material", width=26, wrap=True),
        Column("asset", "登记编号", "Registry no.", width=16, get=attr("asset.registry_no")),
        Column("level", "密级", "Level", kind="enum", labels=LEVEL, width=8),
        Column("copies", "份数", "Copies", kind="int", width=6),
        Column("recipient", "接收单位", "Recipient", width=20, wrap=True),
        Column("recipient_country", "接收方国别（地区）", "Recipient country", width=10),
        Column("purpose", "用途", "Purpose", width=20, wrap=True),
        Column("legal_basis", "提供依据", "Legal basis", width=20, wrap=True),
        Column("reviewer", "保密审查人", "Reviewed by", width=12, get=lambda p: _person_label(p.reviewer)),
        Column("reviewed_on", "审查日期", "Reviewed on", kind="date", width=12),
        Column("review_outcome", "审查结论", "Review outcome", kind="enum", labels=REVIEW_OUTCOME, width=14),
        Column("treatment", "技术处理", "Technical treatment", kind="enum", labels=TREATMENT, width=12),
        Column("approval_id", "审批单号", "Approval no.", kind="int", width=9),
        Column("agreement_no", "保密协议编号", "Agreement no.", width=14),
        Column("agreement_signed_on", "协议签订日期", "Agreement signed on", kind="date", width=12),
        Column("agreement_parties", "协议双方", "Parties to the agreement", width=20, wrap=True),
        Column("provided_on", "提供日期", "Provided on", kind="date", width=12),
        Column("status", "状态", "Status", kind="enum", labels=PROVISION_STATUS, width=10, get=_provision_status),
        Column("provided_by", "经办人", "Provided by", width=12),
    ],
    query=_provisions_query, date_column=_provisions_date, level_column=_provisions_level,
    level_of=lambda p: p.level, requires=("registry.cooperation.provision_models:Provision",),
    description=("资料名称、密级、接收方、保密审查、审批、保密协议", "material, level, recipient, review, approval, agreement"),
)


# ---------------------------------------------------------------- stocktake: inventories and destructions

def _stocktake(name):
    from registry.stocktake import models

    return getattr(models, name)


def _inventories_query(filters: Filters):
    Inventory = _stocktake("Inventory")
    return sa.select(Inventory).order_by(Inventory.id)


def _inventories_date():
    return _stocktake("Inventory").started_at


def _inventory_scope(inv, ctx: ExportContext):
    if not inv.room_ids:
        return "全部部位" if ctx.lang == ZH else "all rooms"
    codes = ctx.lookup("room_code")
    return _join((codes.get(i, f"#{i}") for i in inv.room_ids), "、" if ctx.lang == ZH else ", ")


def _inventory_count(key):
    def get(inv):
        value = (inv.result or {}).get(key)
        if value is None:
            return None
        return value if isinstance(value, int) else len(value)
    return get


def _inventory_items(key):
    def get(inv, ctx: ExportContext):
        ids = (inv.result or {}).get(key) or []
        numbers = ctx.lookup("asset_no")
        return _join((numbers.get(i, f"#{i}") for i in ids), "、" if ctx.lang == ZH else ", ")
    return get


INVENTORIES = Register(
    name="inventories", zh="涉密载体清查登记", en="Register of inventories",
    columns=[
        seq_column(),
        Column("id", "清查编号", "Inventory no.", kind="int", width=9),
        Column("scope", "清查范围", "Scope", width=20, get=_inventory_scope, needs_ctx=True, wrap=True),
        Column("started_by", "发起人", "Started by", width=12),
        Column("started_at", "开始时间", "Started at", kind="datetime", width=17),
        Column("closed_by", "结束人", "Closed by", width=12),
        Column("closed_at", "结束时间", "Closed at", kind="datetime", width=17),
        Column("expected", "应清查数", "Expected", kind="int", width=9, get=_inventory_count("expected")),
        Column("seen", "已清点数", "Seen", kind="int", width=9, get=_inventory_count("seen")),
        Column("missing", "应有未见数", "Expected, not seen", kind="int", width=10, get=_inventory_count("missing")),
        Column("missing_items", "应有未见（登记编号）", "Expected, not seen (registry nos.)", width=24, wrap=True,
               get=_inventory_items("missing"), needs_ctx=True),
        Column("wrong_room", "位置不符数", "Seen in the wrong room", kind="int", width=10,
               get=_inventory_count("wrong_room")),
        Column("wrong_room_items", "位置不符（登记编号）", "Wrong room (registry nos.)", width=24, wrap=True,
               get=_inventory_items("wrong_room"), needs_ctx=True),
        Column("out_on_loan", "借出未归数", "Out on loan", kind="int", width=9, get=_inventory_count("out_on_loan")),
        Column("unknown", "未知标签数", "Unknown labels", kind="int", width=9, get=_inventory_count("unknown")),
        Column("revoked", "作废标签数", "Revoked labels", kind="int", width=9, get=_inventory_count("revoked")),
        Column("note", "备注", "Note", width=18, wrap=True),
    ],
    query=_inventories_query, date_column=_inventories_date, date_label=("开始时间", "started at"),
    requires=("registry.stocktake.models:Inventory",),
    description=("清查范围、时间、应有未见、位置不符、未知标签", "scope, time, missing, wrong room, unknown labels"),
)


def _destructions_query(filters: Filters):
    Destruction = _stocktake("Destruction")
    return (sa.select(Destruction)
            .options(selectinload(Destruction.assets), selectinload(Destruction.witnesses),
                     joinedload(Destruction.performer))
            .order_by(Destruction.destroyed_on, Destruction.id))


def _destructions_date():
    return _stocktake("Destruction").destroyed_on


def _destructions_levels(filters: Filters, tz):
    from registry.assets.models import Asset

    Destruction = _stocktake("Destruction")
    items = _stocktake("destruction_items")
    stmt = (sa.select(Asset.level).distinct()
            .join(items, items.c.asset_id == Asset.id).join(Destruction, Destruction.id == items.c.destruction_id))
    return apply_period(stmt, Destruction.destroyed_on, filters, tz)


def _destroyed_level(d):
    return max_level(a.level for a in d.assets)


DESTRUCTIONS = Register(
    name="destructions", zh="涉密载体销毁登记", en="Register of destructions",
    columns=[
        seq_column(),
        Column("id", "销毁编号", "Destruction no.", kind="int", width=9),
        Column("items", "登记编号", "Registry nos.", width=22, wrap=True,
               get=lambda d: _join(a.registry_no for a in d.assets)),
        Column("titles", "文件资料名称", "Titles", width=28, wrap=True, get=lambda d: _join(a.title for a in d.assets)),
        Column("level", "密级", "Level", kind="enum", labels=LEVEL, width=8, get=_destroyed_level),
        Column("count", "数量", "Items", kind="int", width=6, get=lambda d: len(d.assets)),
        Column("method", "销毁方式", "Method", kind="enum", labels=DESTRUCTION_METHOD, width=10),
        Column("destroyed_on", "销毁日期", "Destroyed on", kind="date", width=12),
        Column("place", "销毁地点", "Place", width=16),
        Column("approval_id", "审批单号", "Approval no.", kind="int", width=9),
        Column("performer", "销毁人", "Performed by", width=12, get=lambda d: _person_label(d.performer)),
        Column("witnesses", "监销人", "Witnesses", width=18, get=lambda d: _join(p.name for p in d.witnesses)),
        Column("recorded_by", "登记人", "Recorded by", width=12),
        Column("note", "备注", "Note", width=18, wrap=True),
    ],
    query=_destructions_query, date_column=_destructions_date, date_label=("销毁日期", "destroyed on"),
    level_query=_destructions_levels, level_of=_destroyed_level,
    requires=("registry.stocktake.models:Destruction",),
    description=("销毁物品、方式、日期、审批、销毁人和监销人", "items, method, date, approval, performer and witnesses"),
)


# ---------------------------------------------------------------- the list (SPEC §6 order)

REGISTERS: dict[str, Register] = {r.name: r for r in (
    ASSETS, MEDIA, COMPUTERS, STORAGE, EQUIPMENT, CHECKOUTS, PEOPLE, ROOMS, VISITORS, PERMISSIONS, VISITS,
    SECURITY_EVENTS, PROJECTS, PROVISIONS, INVENTORIES, DESTRUCTIONS, AUDIT)}
PACK = "inspection-pack"
IMPORTABLE = ("assets", "media", "computers", "storage", "equipment", "people", "rooms", "visitors")


def get(name: str) -> Register | None:
    register = REGISTERS.get(name)
    if register is None or not register.available():
        return None
    return register


def available() -> list[Register]:
    return [r for r in REGISTERS.values() if r.available()]


def visible_to(user) -> list[Register]:
    """The registers a user's role may export (admin passes every gate)."""
    return [r for r in available() if user is None or user.has_role(*r.roles)]


def statement(register: Register, filters: Filters, tz):
    stmt = register.query(filters)
    column = register.date_column() if register.date_column else None
    return apply_period(stmt, column, filters, tz)


def count(session, register: Register, filters: Filters, tz) -> int:
    """Rows the export would hold. Log registers count their own table (their joins are to
    mandatory or optional parents and never change the number of rows)."""
    if register.count_entity is not None:
        stmt = sa.select(sa.func.count()).select_from(register.count_entity())
        column = register.date_column() if register.date_column else None
        return session.scalar(apply_period(stmt, column, filters, tz))
    stmt = statement(register, filters, tz).order_by(None)
    return session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))


def highest_level(session, register: Register, filters: Filters, tz) -> str | None:
    """The highest level among the rows of the export (None: the register has no level)."""
    if register.level_query is not None:
        return max_level(session.scalars(register.level_query(filters, tz)))
    if register.level_column is None:
        return None
    stmt = statement(register, filters, tz).order_by(None)
    level = register.level_column()
    stmt = stmt.with_only_columns(level, maintain_column_froms=True).distinct()
    return max_level(session.scalars(stmt))


class LevelTracker:
    """Remembers the highest level seen while streaming rows (the marking is never understated)."""

    def __init__(self, initial: str | None = None):
        self.level = initial

    def see(self, value) -> None:
        self.level = max_level([self.level, value])


def rows(session, register: Register, filters: Filters, ctx: ExportContext, *,
         tracker: LevelTracker | None = None, batch: int = 1000) -> Iterator[list]:
    """Stream the register's rows as lists of cell values in the export's language.

    Rows come from the database in batches (`yield_per`: a server-side cursor on
    PostgreSQL), so memory stays flat however long the register is.
    """
    stmt = statement(register, filters, ctx.tz).execution_options(yield_per=batch)
    result = session.execute(stmt)
    source = result.scalars() if register.scalars else result
    converters = [None if c.kind == "seq" else c.converter(ctx) for c in register.columns]
    level_of = register.level_of if tracker is not None else None
    n = 0
    for row in source:
        n += 1
        yield [n if conv is None else conv(row) for conv in converters]
        if level_of is not None:
            tracker.see(level_of(row))

