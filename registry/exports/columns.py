"""Column and register declarations: what an Excel register holds, declared once per register.

A `Column` names its header in Chinese and English (not gettext: an export's language is
chosen by its `lang` parameter, not by the UI locale), how to get the value from a row,
its kind (which decides the cell format and the import parsing), its width, and, for
importable registers, the form field it fills. `Register` groups the columns with the
query that yields the rows, the date the period filter applies to, the level used for the
marking, the roles that may export it and the import definition.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from operator import attrgetter
from typing import Callable
from zoneinfo import ZoneInfo

ZH, EN = "zh_CN", "en"
LANGS = (ZH, EN)

# kind -> (number format, horizontal alignment)
KINDS = {
    "seq": ("0", "center"),
    "text": ("@", None),
    "int": ("0", None),
    "number": ("0.0", None),
    "date": ("yyyy-mm-dd", "center"),
    "datetime": ("yyyy-mm-dd hh:mm", "center"),
    "bool": ("@", "center"),
    "enum": ("@", None),
    "json": ("@", None),
}

# ---------------------------------------------------------------- bilingual vocabularies
# The export writes the label in the export's language; the import accepts the key, the
# Chinese or the English label. Chinese terms follow DOMAIN.md §1 and SPEC §2.

LEVEL = {
    "unclassified": ("非密", "Unclassified"), "internal": ("内部", "Internal"),
    "confidential": ("秘密", "Confidential"), "secret": ("机密", "Secret"), "top_secret": ("绝密", "Top Secret"),
}
LEVEL_ORDER = ("unclassified", "internal", "confidential", "secret", "top_secret")
CATEGORY = {
    "core": ("核心涉密人员", "Core cleared staff"), "important": ("重要涉密人员", "Important cleared staff"),
    "general": ("一般涉密人员", "General cleared staff"), "none": ("非涉密人员", "Not cleared"),
}
PERSON_STATUS = {"active": ("在岗", "Active"), "decommissioning": ("脱密期", "Decommissioning period"),
                 "left": ("已离岗", "Left")}
FOREIGN_POLICY = {"forbidden": ("禁止境外人员进入", "Forbidden to foreign nationals"),
                  "escorted": ("经批准并陪同", "Permission and escort required"), "open": ("开放", "Open")}
ASSET_KIND = {"media": ("涉密载体", "Media"), "computer": ("涉密计算机", "Computer"),
              "storage": ("移动存储介质", "Removable storage"), "equipment": ("涉密设备", "Equipment")}
ASSET_STATUS = {"available": ("在库", "Available"), "checked_out": ("借出", "Checked out"),
                "missing": ("丢失", "Missing"), "destroyed": ("已销毁", "Destroyed")}
SUBTYPE = {
    "paper": ("纸质文件", "Paper"), "disc": ("光盘", "Disc"), "tape": ("磁带", "Tape"),
    "laptop": ("便携式计算机", "Laptop"), "desktop": ("台式计算机", "Desktop"), "server": ("服务器", "Server"),
    "usb_flash": ("U盘", "USB flash drive"), "usb": ("U盘", "USB flash drive"),
    "external_disk": ("移动硬盘", "External disk"), "memory_card": ("存储卡", "Memory card"),
    "printer": ("打印机", "Printer"), "scanner": ("扫描仪", "Scanner"), "copier": ("复印机", "Copier"),
    "shredder": ("碎纸机", "Shredder"), "camera": ("照相机", "Camera"), "other": ("其他", "Other"),
}
NETWORK = {"classified": ("涉密网", "Classified network"), "standalone": ("单机", "Standalone"),
           "intranet": ("内部网", "Intranet")}
CONDITION = {"intact": ("完好", "Intact"), "damaged": ("损坏", "Damaged"), "seal_broken": ("封条破损", "Seal broken"),
             "incomplete": ("不完整", "Incomplete")}
REVIEW_STATUS = {"pending": ("待审查", "Pending"), "passed": ("通过", "Passed"),
                 "conditional": ("有条件通过", "Passed with conditions"), "rejected": ("未通过", "Rejected")}
PROVISION_STATUS = {"requested": ("已申请", "Requested"), "approved": ("已批准", "Approved"),
                    "provided": ("已提供", "Provided"), "rejected": ("已驳回", "Rejected")}
DOC_TYPE = {"passport": ("护照", "Passport"), "national_id": ("居民身份证", "National ID card"),
            "hk_macau_permit": ("港澳居民来往内地通行证", "Home-return permit (Hong Kong / Macau)"),
            "taiwan_permit": ("台湾居民来往大陆通行证", "Taiwan compatriot permit"), "other": ("其他证件", "Other document")}
DEVICE_KIND = {"phone": ("手机", "Mobile phone"), "camera": ("照相/摄像设备", "Camera / video camera"),
               "recorder": ("录音设备", "Recording device"), "radio": ("无线发射设备", "Radio transmitter"),
               "laptop": ("笔记本/平板电脑", "Laptop / tablet"), "storage": ("移动存储介质", "Removable storage"),
               "other": ("其他设备", "Other device")}
DEVICE_DISPOSITION = {"deposited": ("已存入屏蔽柜", "deposited"), "carried": ("携入（已申报）", "carried in, declared")}
INSPECTION_RESULT = {"passed": ("合格", "Passed"), "failed": ("不合格", "Failed"),
                     "conditional": ("有条件合格", "Passed with conditions"), "pending": ("待检查", "Pending")}
REVIEW_OUTCOME = {"passed": ("可以提供", "May be provided"),
                  "conditional": ("经技术处理后可以提供", "May be provided after treatment"),
                  "rejected": ("不得提供", "Must not be provided")}
TREATMENT = {"none_needed": ("无需处理", "None needed"), "declassified": ("脱密处理", "Declassification treatment"),
             "technical": ("技术处理", "Technical treatment"), "extract": ("仅提供摘要或节选", "Extract or summary only")}
DESTRUCTION_METHOD = {"shredding": ("粉碎", "Shredding"), "incineration": ("焚毁", "Incineration"),
                      "degaussing": ("消磁", "Degaussing"), "physical": ("物理销毁", "Physical destruction"),
                      "pulping": ("化浆", "Pulping"), "other": ("其他", "Other")}
SECURITY_KIND = {
    "entry_denied": ("拒绝进入", "Entry denied"), "checkout_denied": ("拒绝借出", "Checkout denied"),
    "revoked_label_scanned": ("扫描已作废标签", "Revoked label scanned"),
    "return_discrepancy": ("归还异常", "Return discrepancy"), "overdue": ("逾期未还", "Overdue"),
    "audit_chain_broken": ("审计链断裂", "Audit chain broken"), "action_denied": ("操作被拒绝", "Action denied"),
    "person_change_denied": ("人员变更被拒绝", "Person change refused"),
    "login_failed": ("登录失败", "Sign-in failed"), "access_denied": ("越权访问", "Access denied"),
}
ROLE = {"admin": ("系统管理员", "Administrator"), "officer": ("保密管理员", "Security officer"),
        "approver": ("审批人", "Approver"), "staff": ("涉密人员", "Staff"), "guard": ("门卫", "Guard"),
        "inspector": ("检查人员", "Inspector")}
YES_NO = {True: ("是", "Yes"), False: ("否", "No")}


def vocabulary_lookup(labels: dict) -> dict[str, str]:
    """Reverse map for imports: key, Chinese label and English label (case-insensitive) -> key."""
    out: dict[str, str] = {}
    for key, (zh, en) in labels.items():
        for text in (key, zh, en):
            out.setdefault(str(text).strip().lower(), key)
    return out


def level_marking(level_key: str | None, lang: str) -> str:
    """The marking printed on a register: 秘密★/机密★/绝密★ for state secrets, else 内部.

    A register of a secrecy office is never marked below Internal (内部); the ★ is only
    used on state-secret levels (DOMAIN.md R1)."""
    key = level_key if level_key in ("confidential", "secret", "top_secret") else "internal"
    zh, en = LEVEL[key]
    if lang == ZH:
        return zh + "★" if key != "internal" else zh
    return en.upper()


def max_level(keys) -> str | None:
    best = None
    for key in keys:
        key = getattr(key, "value", key)
        if key in LEVEL_ORDER and (best is None or LEVEL_ORDER.index(key) > LEVEL_ORDER.index(best)):
            best = key
    return best


# ---------------------------------------------------------------- columns

@dataclass
class ExportContext:
    """What a getter may need besides the row: language, unit time zone, viewer role, helpers."""

    lang: str = ZH
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    home_country: str = "CN"
    role: str = "officer"
    mask: Callable[[str | None], str | None] | None = None
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    loaders: dict[str, Callable[[], dict]] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict)

    def lookup(self, name: str) -> dict:
        """A small id -> human key table (e.g. person id -> employee number), loaded once per export."""
        if name not in self._cache:
            loader = self.loaders.get(name)
            self._cache[name] = loader() if loader else {}
        return self._cache[name]

    def masked(self, value: str | None) -> str | None:
        """A visitor's document number as this viewer may see it (SPEC §3: the visits domain's
        mask_id_doc when installed; in full only for officer and admin)."""
        if value is None:
            return value
        if self.mask is not None:
            return self.mask(value)
        if self.role in ("officer", "admin"):
            return value
        return "****" + value[-4:] if len(value) > 4 else "****"


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    kind: str = "text"
    width: float = 14
    get: Callable | None = None          # row -> raw value; default: the row's attribute `key`
    needs_ctx: bool = False              # get takes (row, ctx) (e.g. masking by the viewer's role)
    labels: dict | None = None           # enum vocabulary (key -> (zh, en))
    field: str | None = None             # import: the form field this column fills (None: export only)
    ref: str | None = None               # import: resolve a human key ("person", "room", "asset", "project")
    wrap: bool = False
    multi: bool = False                  # several values in one cell (export joins, import splits)

    def header(self, lang: str) -> str:
        return self.zh if lang == ZH else self.en

    def converter(self, ctx: ExportContext) -> Callable:
        """A function row -> cell value in the export's language (built once per export)."""
        getter = self.get or _attr(self.key)
        idx = 0 if ctx.lang == ZH else 1
        kind = self.kind
        raw = (lambda row, _g=getter: _g(row, ctx)) if self.needs_ctx else getter  # noqa: E731
        if kind in ("enum",) and self.labels:
            labels = self.labels

            def conv(row):
                v = raw(row)
                if v is None or v == "":
                    return None
                k = getattr(v, "value", v)
                pair = labels.get(k)
                return pair[idx] if pair else str(k)
            return conv
        if kind == "bool":
            def conv(row):
                v = raw(row)
                return None if v is None else YES_NO[bool(v)][idx]
            return conv
        if kind == "datetime":
            tz = ctx.tz

            def conv(row):
                v = raw(row)
                if v is None:
                    return None
                if isinstance(v, datetime):
                    if v.tzinfo is not None:
                        v = v.astimezone(tz)
                    return v.replace(tzinfo=None, microsecond=0)
                return v
            return conv
        if kind == "date":
            def conv(row):
                v = raw(row)
                if isinstance(v, datetime):
                    v = v.astimezone(ctx.tz).date() if v.tzinfo else v.date()
                return v
            return conv
        if kind == "json":
            def conv(row):
                v = raw(row)
                if v is None or v == {} or v == []:
                    return None
                if isinstance(v, str):
                    return v
                return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
            return conv
        if kind == "int":
            def conv(row):
                v = raw(row)
                return None if v is None or v == "" else int(v)
            return conv
        if kind == "text":
            def conv(row):
                v = raw(row)
                if v is None:
                    return None
                return getattr(v, "value", v) if not isinstance(v, str) else v
            return conv
        return raw


def _attr(path: str) -> Callable:
    get = attrgetter(path)

    def getter(row):
        try:
            return get(row)
        except AttributeError:
            return None
    return getter


def attr(path: str) -> Callable:
    """A getter for a dotted attribute path that answers None where a link is empty."""
    return _attr(path)


def seq_column() -> Column:
    return Column("seq", "序号", "No.", kind="seq", width=6)


# ---------------------------------------------------------------- registers

@dataclass
class ImportSpec:
    """How rows of a register become records: the form (the API's), the service, the key."""

    form: Callable[[], type]             # returns the form class (imported lazily)
    create: Callable                     # (session, data, actor) -> record
    key: str                             # the unique human key field (employee_no, code, …)
    key_exists: Callable                 # (session, data) -> bool: the row's key is registered already
    defaults: dict = field(default_factory=dict)
    key_value: Callable | None = None    # data -> the key as compared (default: data[key], case-insensitive)
    # (session, actor) -> a batch that creates all rows at once, replacing `create` and `key_exists`:
    # .registered(key) -> bool, .add(form data) checks and builds one row (raises ValidationFailed /
    # DomainError, writes nothing), .write() creates every added row (see assets.services.AssetBatch)
    bulk: Callable | None = None

    def key_of(self, data: dict) -> str:
        if self.key_value is not None:
            return self.key_value(data)
        return str(data.get(self.key) or "").strip().lower()


@dataclass
class Register:
    name: str
    zh: str
    en: str
    columns: list[Column]
    query: Callable                      # (filters) -> SQLAlchemy Select of the rows, in register order
    scalars: bool = True                 # rows are single ORM entities (else Core rows)
    date_column: Callable | None = None  # () -> the column the from/to filter applies to
    date_label: tuple[str, str] = ("登记日期", "registered on")
    level_column: Callable | None = None  # () -> SQL expression of the level (marking = highest)
    level_of: Callable | None = None     # row -> level key (tracked while streaming)
    level_query: Callable | None = None  # (filters, tz) -> SELECT of the levels, when level_column cannot say
    count_entity: Callable | None = None  # () -> the table to count (joins that keep the row count skipped)
    requires: tuple[str, ...] = ()       # modules that must exist (models of other domains)
    roles: tuple[str, ...] = ("officer", "inspector")
    importer: ImportSpec | None = None
    description: tuple[str, str] = ("", "")

    def title(self, lang: str) -> str:
        return self.zh if lang == ZH else self.en

    def available(self) -> bool:
        """Whether the models this register reads exist in this installation ("module" or "module:Class")."""
        for spec in self.requires:
            module, _, name = spec.partition(":")
            try:
                if importlib.util.find_spec(module) is None:
                    return False
                if name and not hasattr(importlib.import_module(module), name):
                    return False
            except ImportError:
                return False
        return True

    def import_columns(self) -> list[Column]:
        return [c for c in self.columns if c.field]


def as_date(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value
