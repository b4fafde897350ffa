"""Declarative base, naming convention, time helpers and the shared vocabularies (SPEC §2)."""

from __future__ import annotations

import enum
import json
from datetime import date, datetime, timezone

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC. Use as a callable default, never as a value."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class JSONDocument(str):
    """A value already serialised as canonical JSON (`canonical_json`); JSONText stores it as it is."""

    __slots__ = ()


def canonical_json(value) -> str:
    """Canonical JSON text: sorted keys, no whitespace, UTF-8 (not escaped). The audit chain hashes
    this form; JSONText stores it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


class JSONText(TypeDecorator):
    """JSON kept as canonical text (`canonical_json`) on every database. A `JSONDocument` (text
    serialised before, e.g. by the audit chain for its hash) is stored without a second dump."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if type(value) is JSONDocument:
            return str(value)
        return canonical_json(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return json.loads(value)


def _json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class LabelledEnum(str, enum.Enum):
    """A string enum whose members carry a translatable label; stored as the key."""

    def __new__(cls, value: str, label):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.label = label
        return obj

    def __str__(self) -> str:  # keys in templates and JSON, labels via .label
        return self.value

    @classmethod
    def choices(cls):
        return [(m.value, m.label) for m in cls]

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]

    @classmethod
    def has_value(cls, value) -> bool:
        """Whether `value` is one of the members' values (a dict lookup: per-row checks of imports)."""
        try:
            return value in cls._value2member_map_
        except TypeError:  # unhashable
            return False


class Level(LabelledEnum):
    """Classification levels, ordered from lowest to highest (SPEC §2)."""

    UNCLASSIFIED = "unclassified", _l("Unclassified")
    INTERNAL = "internal", _l("Internal")
    CONFIDENTIAL = "confidential", _l("Confidential")
    SECRET = "secret", _l("Secret")
    TOP_SECRET = "top_secret", _l("Top Secret")

    @property
    def rank(self) -> int:
        return list(Level).index(self)

    def __ge__(self, other):  # type: ignore[override]
        return self.rank >= Level(other).rank

    def __gt__(self, other):  # type: ignore[override]
        return self.rank > Level(other).rank

    def __le__(self, other):  # type: ignore[override]
        return self.rank <= Level(other).rank

    def __lt__(self, other):  # type: ignore[override]
        return self.rank < Level(other).rank

    def __hash__(self):
        return str.__hash__(self)

    def __eq__(self, other):
        return str.__eq__(self, other)


# Default secrecy periods (years) when none is given.
DEFAULT_SECRECY_YEARS = {Level.TOP_SECRET: 30, Level.SECRET: 20, Level.CONFIDENTIAL: 10}


class Category(LabelledEnum):
    """Personnel categories (涉密人员类别) and the clearance each grants."""

    CORE = "core", _l("Core cleared staff")
    IMPORTANT = "important", _l("Important cleared staff")
    GENERAL = "general", _l("General cleared staff")
    NONE = "none", _l("Not cleared")

    @property
    def clearance(self) -> Level:
        return CATEGORY_CLEARANCE[self]


CATEGORY_CLEARANCE = {
    Category.CORE: Level.TOP_SECRET,
    Category.IMPORTANT: Level.SECRET,
    Category.GENERAL: Level.CONFIDENTIAL,
    Category.NONE: Level.INTERNAL,
}


def enum_column(enum_cls, **kw):
    """A VARCHAR column holding an enum key, with a CHECK constraint listing the keys."""
    length = max(len(v) for v in enum_cls.values())
    return sa.Enum(
        enum_cls,
        values_callable=lambda e: [m.value for m in e],
        native_enum=False,
        length=max(length, 16),
        validate_strings=True,
        create_constraint=True,
        name=kw.pop("name", enum_cls.__name__.lower()),
    )
